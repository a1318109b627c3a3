/// Float storage for the hot path: allocated once, zero-initialised, never copied or resized in
/// place. Layers, networks and optimizers keep their activations, gradients and state in these,
/// so a training step allocates nothing. Outside the package a buffer can only be read.
public final class Buffer: @unchecked Sendable {
    /// How many floats it holds.
    public let count: Int
    package let pointer: UnsafeMutablePointer<Float>

    package init(count: Int) {
        precondition(count >= 0)
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    /// A copy of the values.
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    package func copy(from values: [Float]) {
        precondition(values.count == count, "copying \(values.count) values into a buffer of \(count)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    package func fill(_ value: Float) { pointer.update(repeating: value, count: count) }
}

/// A buffer sized for a batch of `perSample`-float items that grows, never shrinks, when a
/// larger batch is asked for.
package final class BatchBuffer {
    package let perSample: Int
    package private(set) var buffer: Buffer
    package private(set) var capacity: Int

    package init(perSample: Int, capacity: Int = 1) {
        self.perSample = perSample
        self.capacity = capacity
        buffer = Buffer(count: perSample * capacity)
    }

    package func reserve(_ batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        buffer = Buffer(count: perSample * batch)
    }

    package var pointer: UnsafeMutablePointer<Float> { buffer.pointer }
}
