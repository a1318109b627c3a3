import Foundation
import Testing
import ConvKit

/// ProcessGroup as a plain run sees it (a group of one), and under mpirun through
/// Tests/MPIProbe: sums bit-identical on every rank and to the rank-order sum computed locally,
/// and a dead rank reported as an error.
@Suite(.serialized) struct ProcessGroupTests {
    @Test(.enabled(if: ProcessGroup.launchedSize == nil, "this process was started by mpirun"))
    func groupOfOne() throws {
        let world = try ProcessGroup.world
        #expect(world.rank == 0 && world.size == 1 && world.isMain)

        let a = Buffer(count: 3), b = Buffer(count: 2)
        a.copy(from: [1, 2, 3])
        b.copy(from: [0.1, -0.5])
        try world.allReduceSum([a, b])
        #expect(a.array == [1, 2, 3] && b.array == [0.1, -0.5])

        var floats: [Float] = [4, 5]
        try world.allReduceSum(&floats)
        try world.broadcast(&floats)
        #expect(floats == [4, 5])
        var bytes: [UInt8] = [7, 8, 9]
        try world.broadcast(&bytes)
        #expect(bytes == [7, 8, 9])
        #expect(try world.sum(0.25) == 0.25)
        #expect(try world.sum(42) == 42)
        try world.barrier()
    }

    @Test func errorsAreOneLine() {
        let errors: [ProcessGroupError] = [
            .builtWithoutMPI(launchedSize: 2),
            .communication(operation: "sum of 10 floats", rank: 0, size: 2, code: 13, message: "MPI_ERR_OTHER: known error not in list"),
        ]
        for e in errors { #expect(!e.description.contains("\n")) }
        #expect(errors[1].description.hasPrefix("rank 0 of 2: sum of 10 floats failed"))
    }

    // MARK: under mpirun

    static let mpirun: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin")
        .split(separator: ":").map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `mpi-probe` next to the test bundle (`swift test` builds every target into one directory).
    static let probe: String? = {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("mpi-probe").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    static let canRun = ProcessGroup.builtWithMPI && mpirun != nil && probe != nil

    /// Runs the probe on `processes` ranks; kills mpirun after `timeout` seconds.
    static func mpirun(_ processes: Int, _ mode: String, options: [String] = [], timeout: Double = 120) throws -> (status: Int32, stdout: String, stderr: String) {
        try mpirun(processes, try #require(probe), [mode], options: options, timeout: timeout)
    }

    /// Runs `executable arguments` on `processes` ranks of one thread each; kills mpirun after `timeout` seconds.
    static func mpirun(_ processes: Int, _ executable: String, _ arguments: [String], options: [String] = [],
                       timeout: Double = 120) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(mpirun))
        process.arguments = ["--allow-run-as-root", "--oversubscribe"] + options + ["-np", "\(processes)", executable] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMP_NUM_THREADS"] = "1"
        // Under `swift test --sanitize=address` the program is instrumented too, and LeakSanitizer
        // reports what Open MPI's libraries keep allocated at exit: not ours, and it would turn
        // every passing run into exit 1. ASan's other checks stay on.
        environment["ASAN_OPTIONS"] = (environment["ASAN_OPTIONS"].map { $0 + ":" } ?? "") + "detect_leaks=0"
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = DispatchTime.now() + timeout
        DispatchQueue.global().asyncAfter(deadline: deadline) { if process.isRunning { process.terminate() } }
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    // Two ranks, as the issue asks; three, because with two the order cannot matter (a + b == b + a
    // exactly), while with three the probe finds elements where ((v0+v1)+v2) ≠ ((v2+v1)+v0).
    @Test(.enabled(if: canRun, "needs mpirun and a build with MPI"), arguments: [2, 3])
    func sumsAreBitIdenticalAcrossRanks(processes: Int) throws {
        let r = try Self.mpirun(processes, "check")
        #expect(r.status == 0, "mpirun exited \(r.status): \(r.stdout)\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").filter { $0.hasPrefix("rank ") }
        #expect(lines.count == processes, "\(r.stdout)\(r.stderr)")
        for rank in 0..<processes {
            #expect(lines.contains { $0.hasPrefix("rank \(rank) of \(processes): ok") }, "\(r.stdout)")
        }
        #expect(!r.stdout.contains("FAIL"), "\(r.stdout)")
        if processes > 2 { #expect(!r.stdout.contains("; 0 elements would differ"), "the probe's data does not depend on the order: \(r.stdout)") }
    }

    /// Plain mpirun ends the whole run when a process dies.
    @Test(.enabled(if: canRun, "needs mpirun and a build with MPI"))
    func deadRankEndsTheRun() throws {
        let r = try Self.mpirun(2, "die", timeout: 60)
        #expect(r.status != 0)
        #expect(!r.stdout.contains("FAIL"), "\(r.stdout)")
    }

    /// With --enable-recovery mpirun lets the others run on; their next sum waits for the dead
    /// rank until the group's timeout (5 s in the probe), then fails with one clear line and
    /// aborts. (Open MPI 4.1's mpirun exits 0 in this mode even after an abort, so its status
    /// is not checked.)
    @Test(.enabled(if: canRun, "needs mpirun and a build with MPI"))
    func deadRankTimesOut() throws {
        let r = try Self.mpirun(2, "die", options: ["--enable-recovery"], timeout: 60)
        #expect(!r.stdout.contains("FAIL"), "\(r.stdout)")
        #expect(r.stderr.contains("Error: rank 0 of 2: sum of 100000 floats failed (MPI error -4: timed out waiting for the other processes)"), "\(r.stderr)")
    }
}
