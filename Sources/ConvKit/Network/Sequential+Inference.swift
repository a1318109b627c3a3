import Foundation

/// What one inference call writes besides its output: two activation buffers, each a batch of
/// the widest layer's output, that the layers write in turn (layer i into buffer i mod 2, the
/// last layer into the caller's output), and the largest scratch any layer asks for
/// (`BatchLayer.inferenceWorkspaceCount`).
package final class InferenceWorkspace {
    /// The most samples it holds.
    package let batch: Int
    private let activations: (Buffer, Buffer)
    private let scratch: Buffer

    init(network: Sequential, batch: Int) {
        self.batch = batch
        let widest = network.layers.map(\.outputCount).max() ?? 0
        activations = (Buffer(count: batch * widest), Buffer(count: batch * widest))
        scratch = Buffer(count: network.batchLayers.map { $0.inferenceWorkspaceCount(batch: batch) }.max() ?? 0)
    }

    fileprivate func activation(_ i: Int) -> UnsafeMutablePointer<Float> { i % 2 == 0 ? activations.0.pointer : activations.1.pointer }
    fileprivate var scratchPointer: UnsafeMutablePointer<Float>? { scratch.count == 0 ? nil : scratch.pointer }
}

/// The workspaces of finished inference calls, for the next calls to reuse. A workspace is only
/// ever in one call's hands: taken out under the lock, put back under it. Reused rather than
/// made per call because fresh memory costs a page fault per 4 KB on first touch. Estimated, not
/// measured: a batch of 256 through LeNet needs 9 MB of activations, on the order of a
/// millisecond of faults, against about 3 ms of arithmetic (166 MFLOP); an uncontended lock is
/// well under a microsecond, even beside a single sample's 16 µs.
///
/// A call takes a free workspace large enough for its batch; if none is, it drops one of the
/// free ones (too small for it) and makes its own, so there are never more workspaces than calls
/// that ran at once, each sized for the largest batch it served.
final class InferenceWorkspaces: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [InferenceWorkspace] = []

    func take(batch: Int) -> InferenceWorkspace? {
        lock.withLock {
            if let i = free.lastIndex(where: { $0.batch >= batch }) { return free.remove(at: i) }
            if !free.isEmpty { free.removeFirst() }
            return nil
        }
    }

    func giveBack(_ workspace: InferenceWorkspace) { lock.withLock { free.append(workspace) } }
}

extension Sequential {
    /// `body` with a workspace of at least `batch` samples that no other call holds meanwhile.
    package func withInferenceWorkspace<R, E: Error>(batch: Int, _ body: (InferenceWorkspace) throws(E) -> R) throws(E) -> R {
        let workspace = inferenceWorkspaces.take(batch: batch) ?? InferenceWorkspace(network: self, batch: batch)
        defer { inferenceWorkspaces.giveBack(workspace) }
        return try body(workspace)
    }

    /// The inference forward pass over `batch` samples: x is (N, inputShape), y (N, outputShape).
    /// Reads the weights, writes y and `workspace` only, so calls may run at once from any number
    /// of threads, each with its own workspace.
    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, workspace: InferenceWorkspace) {
        precondition(batch <= workspace.batch, "batch \(batch) over the workspace's \(workspace.batch)")
        guard !batchLayers.isEmpty else { return y.update(from: x, count: batch * inputCount) }
        var source = x
        for (k, step) in chain.steps.enumerated() {
            let target = k == chain.steps.count - 1 ? y : workspace.activation(k)
            step.runner.infer(source, target, batch: batch, pass: Pass(variant: variant), workspace: workspace.scratchPointer)
            source = UnsafePointer(target)
        }
    }

    /// `infer` with a workspace of its own.
    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        withInferenceWorkspace(batch: batch) { infer(x, y, batch: batch, workspace: $0) }
    }

    /// Layer `index`'s inference pass on its own, with a workspace of the network's: for
    /// `activations(for:)`, which keeps every layer's output.
    package func infer(layer index: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int,
                       workspace: InferenceWorkspace) {
        precondition(batch <= workspace.batch, "batch \(batch) over the workspace's \(workspace.batch)")
        batchLayers[index].infer(x, y, batch: batch, pass: Pass(variant: variant), workspace: workspace.scratchPointer)
    }
}
