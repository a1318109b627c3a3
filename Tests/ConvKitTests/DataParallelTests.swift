import Foundation
import Testing
import ConvKit
import ConvKitFiles

/// `mpirun -np 2 convkit train` against one process: the same seed and global batch give
/// bit-identical weights to one process running each batch as 2 shares (`--shares 2`), since
/// both sum the shares' gradients in the same order. Needs a build with MPI and mpirun on PATH.
@Suite("Data-parallel training on MPI", .serialized)
struct DataParallelTests {
    static let canRun = ProcessGroup.builtWithMPI && ProcessGroupTests.mpirun != nil && CLITests.executable != nil
        && ProcessGroup.launchedSize == nil

    static let recipe = ["train", "--arch", "lenet", "--per-class", "30", "--test-per-class", "10", "--epochs", "2",
                         "--batch", "25", "--seed", "3"]

    /// `convkit` with `arguments` on `processes` MPI ranks (1 thread each).
    static func mpirun(_ processes: Int, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try ProcessGroupTests.mpirun(processes, try #require(CLITests.executable), arguments)
    }

    static func weights(_ path: String) throws -> [[Float]] {
        try Model.load(path: path).model.network.parameters.map(\.value.array)
    }

    @Test("2 ranks end bit-identical to one process with 2 shares; close to the plain run", .enabled(if: canRun))
    func twoRanksMatchOneProcess() throws {
        let dir = TemporaryDirectory()
        let ranks = try Self.mpirun(2, Self.recipe + ["--save", dir.path + "/ranks.safetensors", "--json"])
        #expect(ranks.status == 0, "\(ranks.stderr)")
        // Only rank 0 prints: one JSON object.
        #expect(ranks.stdout.split(separator: "\n").count == 1, "\(ranks.stdout)")
        let shares = try CLITests.run(Self.recipe + ["--shares", "2", "--save", dir.path + "/shares.safetensors", "--json"])
        #expect(shares.status == 0, "\(shares.stderr)")
        // Evaluation is sharded across the ranks and its counts summed: the same confusion matrix.
        func report(_ json: String) throws -> [String: Any] {
            try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        }
        let (r, o) = (try report(ranks.stdout), try report(shares.stdout))
        #expect(r["confusion"] as? [[Int]] == o["confusion"] as? [[Int]])
        #expect(r["test_accuracy"] as? Double == o["test_accuracy"] as? Double)
        let plain = try CLITests.run(Self.recipe + ["--save", dir.path + "/plain.safetensors"])
        #expect(plain.status == 0)

        let a = try Self.weights(dir.path + "/ranks.safetensors"), b = try Self.weights(dir.path + "/shares.safetensors")
        #expect(a.map { $0.map(\.bitPattern) } == b.map { $0.map(\.bitPattern) })
        // Against the unsharded step only float rounding differs (different summation order).
        let c = try Self.weights(dir.path + "/plain.safetensors")
        let largest = Self.largestRelativeDifference(a, c)
        #expect(largest < 1e-2, "largest relative difference \(largest)")
    }

    @Test("with augmentation, smoothing, one-cycle and betas, 2 ranks still equal 2 shares bit for bit", .enabled(if: canRun))
    func twoRanksMatchOneProcessWithTrainingFeatures() throws {
        let dir = TemporaryDirectory()
        let recipe = Self.recipe + ["--augment", "shift:2,flip", "--label-smoothing", "0.1", "--schedule", "onecycle", "--betas", "0.7,0.9"]
        let ranks = try Self.mpirun(2, recipe + ["--save", dir.path + "/ranks.safetensors"])
        #expect(ranks.status == 0, "\(ranks.stderr)")
        let shares = try CLITests.run(recipe + ["--shares", "2", "--save", dir.path + "/shares.safetensors"])
        #expect(shares.status == 0, "\(shares.stderr)")
        let plain = try CLITests.run(recipe + ["--save", dir.path + "/plain.safetensors"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let a = try Self.weights(dir.path + "/ranks.safetensors"), b = try Self.weights(dir.path + "/shares.safetensors")
        #expect(a.map { $0.map(\.bitPattern) } == b.map { $0.map(\.bitPattern) })
        // Each rank augments its share as the whole batch would: only summation order differs.
        let c = try Self.weights(dir.path + "/plain.safetensors")
        let largest = Self.largestRelativeDifference(a, c)
        #expect(largest < 1e-2, "largest relative difference \(largest)")
    }

    @Test("a checkpoint of 2 ranks resumes only with 2 shares", .enabled(if: canRun))
    func resumeNeedsTheSameCount() throws {
        let dir = TemporaryDirectory()
        let checkpoint = dir.path + "/ck.safetensors"
        let first = try Self.mpirun(2, Self.recipe + ["--epochs", "1", "--checkpoint", checkpoint])
        #expect(first.status == 0, "\(first.stderr)")
        let refused = try CLITests.run(["train", "--resume", checkpoint])
        #expect(refused.status != 0 && refused.stderr.contains("2 share"), "\(refused.stderr)")
        let resumed = try CLITests.run(["train", "--resume", checkpoint, "--shares", "2", "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    /// max |x − y| / max(|y|, 1e-3) over the weights of two runs, tensor by tensor.
    static func largestRelativeDifference(_ a: [[Float]], _ c: [[Float]]) -> Float {
        var largest: Float = 0
        for (x, y) in zip(a.joined(), c.joined()) { largest = max(largest, abs(x - y) / max(abs(y), 1e-3)) }
        return largest
    }
}
