import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure of the process group, as one line for the CLI.
public enum ProcessGroupError: Error, CustomStringConvertible, Equatable {
    /// Started by mpirun as one of `launchedSize` processes, but this build has no MPI: each process
    /// would run alone as rank 0 of 1 and they would all write the same files.
    case builtWithoutMPI(launchedSize: Int)
    /// MPI could not be started.
    case initialization(code: Int32, message: String)
    /// A collective call failed on this rank: another rank died or the network between them failed.
    case communication(operation: String, rank: Int, size: Int, code: Int32, message: String)

    public var description: String {
        switch self {
        case .builtWithoutMPI(let n):
            "started by mpirun as one of \(n) processes, but this build has no MPI (install libopenmpi-dev and rebuild: docs/mpi-design.md)"
        case .initialization(let code, let message): "MPI could not start (error \(code)): \(message)"
        case .communication(let operation, let rank, let size, let code, let message):
            "rank \(rank) of \(size): \(operation) failed (MPI error \(code): \(message)); another process has probably died"
        }
    }
}

/// The processes that train one model together: `size` copies of the program started by
/// `mpirun -np size`, each with its `rank`. Outside mpirun, or in a build without MPI, it is a
/// group of one (rank 0 of 1) and every collective leaves its data as it is.
///
/// Collectives must be called by every rank, in the same order, with the same counts. Calls
/// must not overlap (MPI is initialised for one thread at a time), so use a group from one thread.
/// Sums are bit-identical on every rank: the ranks' vectors are added in rank order (0, 1, …,
/// size-1) whatever MPI's own reduction order (docs/mpi-design.md).
public final class ProcessGroup: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Rank 0, the one that prints, logs and saves.
    public var isMain: Bool { rank == 0 }

    /// Whether this build links MPI (Package.swift found Open MPI and CONVKIT_MPI was not 0).
    public static var builtWithMPI: Bool { ck_mpi_available() != 0 }
    /// The number of processes mpirun started, from the environment, or nil outside mpirun.
    public static var launchedSize: Int? {
        let n = Int(ck_mpi_launched())
        return n > 0 ? n : nil
    }

    /// All the processes of this run. The first use initialises MPI if (and only if) mpirun
    /// started this process; it fails if mpirun started several processes of a build without MPI.
    public static var world: ProcessGroup {
        get throws(ProcessGroupError) { try started.get() }
    }

    private static let started: Result<ProcessGroup, ProcessGroupError> = {
        if !builtWithMPI, let n = launchedSize, n > 1 { return .failure(.builtWithoutMPI(launchedSize: n)) }
        let code = ck_mpi_init()
        if code != 0 { return .failure(.initialization(code: code, message: message(code))) }
        return .success(ProcessGroup(rank: Int(ck_mpi_rank()), size: Int(ck_mpi_size())))
    }()

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// Seconds a collective may wait for the other ranks before it fails with a communication
    /// error (then `abort`: the group cannot be used again); 0, the default, waits forever.
    /// mpirun itself ends the run when a process exits early; this covers runs where it does not
    /// (`--enable-recovery`) and a process that hangs.
    public var timeout: Double = 0 {
        didSet { ck_mpi_set_timeout(timeout) }
    }

    // Reused across calls so a training step allocates nothing once they have grown.
    private var floatWork = Buffer(count: 0)
    private var packed = Buffer(count: 0)
    private var doubleWork: [Double] = []
    private var intWork: [Int64] = []

    /// Waits until every rank has reached this call.
    public func barrier() throws(ProcessGroupError) {
        try check(ck_mpi_barrier(), "barrier")
    }

    /// Every rank's `buffer` = rank 0's.
    public func broadcast(_ buffer: Buffer) throws(ProcessGroupError) {
        try check(ck_mpi_broadcast_floats(buffer.pointer, buffer.count), "broadcast of \(buffer.count) floats")
    }

    /// Every rank's `values` = rank 0's; counts must agree.
    public func broadcast(_ values: inout [Float]) throws(ProcessGroupError) {
        let n = values.count
        let code = values.withUnsafeMutableBufferPointer { ck_mpi_broadcast_floats($0.baseAddress, n) }
        try check(code, "broadcast of \(n) floats")
    }

    /// Every rank's `bytes` = rank 0's, whatever their length on other ranks (the length goes
    /// first): for a configuration or a model file that only rank 0 read.
    public func broadcast(_ bytes: inout [UInt8]) throws(ProcessGroupError) {
        guard size > 1 else { return }
        var count = UInt64(bytes.count)
        try check(withUnsafeMutableBytes(of: &count) { ck_mpi_broadcast_bytes($0.baseAddress, 8) }, "broadcast of a length")
        if !isMain { bytes = [UInt8](repeating: 0, count: Int(count)) }
        let code = bytes.withUnsafeMutableBytes { ck_mpi_broadcast_bytes($0.baseAddress, $0.count) }
        try check(code, "broadcast of \(count) bytes")
    }

    /// Each buffer = the sum over ranks of that buffer, added in rank order: bit-identical on
    /// every rank. Several buffers (a model's gradients) travel as one vector, so one collective
    /// pays the latency for all of them.
    public func allReduceSum(_ buffers: [Buffer]) throws(ProcessGroupError) {
        guard size > 1 else { return }
        if buffers.count == 1 { return try allReduceSum(buffers[0].pointer, buffers[0].count) }
        let total = buffers.reduce(0) { $0 + $1.count }
        if packed.count < total { packed = Buffer(count: total) }
        var at = 0
        for b in buffers {
            (packed.pointer + at).update(from: b.pointer, count: b.count)
            at += b.count
        }
        try allReduceSum(packed.pointer, total)
        at = 0
        for b in buffers {
            b.pointer.update(from: packed.pointer + at, count: b.count)
            at += b.count
        }
    }

    /// `values` = the sum over ranks, added in rank order: bit-identical on every rank.
    public func allReduceSum(_ values: inout [Float]) throws(ProcessGroupError) {
        guard size > 1, !values.isEmpty else { return }
        let n = values.count
        try values.withUnsafeMutableBufferPointer { (v) throws(ProcessGroupError) in
            try allReduceSum(v.baseAddress!, n)
        }
    }

    /// `values` = the sum over ranks, added in rank order: for losses in reports.
    public func allReduceSum(_ values: inout [Double]) throws(ProcessGroupError) {
        guard size > 1 else { return }
        let n = values.count, need = ck_mpi_sum_work_size(n)
        if doubleWork.count < need { doubleWork = [Double](repeating: 0, count: need) }
        let code = values.withUnsafeMutableBufferPointer { v in
            doubleWork.withUnsafeMutableBufferPointer { ck_mpi_allreduce_sum_doubles(v.baseAddress, $0.baseAddress, n) }
        }
        try check(code, "sum of \(n) doubles")
    }

    /// `values` = the sum over ranks: for counts (correct predictions, samples) in reports.
    public func allReduceSum(_ values: inout [Int]) throws(ProcessGroupError) {
        guard size > 1 else { return }
        let n = values.count, need = ck_mpi_sum_work_size(n)
        if intWork.count < need { intWork = [Int64](repeating: 0, count: need) }
        var wide = values.map(Int64.init)
        let code = wide.withUnsafeMutableBufferPointer { v in
            intWork.withUnsafeMutableBufferPointer { ck_mpi_allreduce_sum_ints(v.baseAddress, $0.baseAddress, n) }
        }
        try check(code, "sum of \(n) integers")
        values = wide.map { Int($0) }
    }

    /// The sum of `value` over ranks, in rank order.
    public func sum(_ value: Double) throws(ProcessGroupError) -> Double {
        var v = [value]
        try allReduceSum(&v)
        return v[0]
    }

    /// The sum of `value` over ranks.
    public func sum(_ value: Int) throws(ProcessGroupError) -> Int {
        var v = [value]
        try allReduceSum(&v)
        return v[0]
    }

    /// Ends MPI normally; every rank must call it, after its last collective. Outside mpirun it
    /// does nothing. A run that fails should `abort` instead: finalize waits for the other ranks.
    public func finalize() throws(ProcessGroupError) {
        try check(ck_mpi_finalize(), "finalize")
    }

    /// Ends every rank of the run with exit status `code` (mpirun reports which rank aborted);
    /// in a group of one, just this process.
    public func abort(code: Int32) -> Never {
        ck_mpi_abort(code)
        exit(code)
    }

    private func allReduceSum(_ x: UnsafeMutablePointer<Float>, _ n: Int) throws(ProcessGroupError) {
        let need = ck_mpi_sum_work_size(n)
        if floatWork.count < need { floatWork = Buffer(count: need) }
        try check(ck_mpi_allreduce_sum_floats(x, floatWork.pointer, n), "sum of \(n) floats")
    }

    private func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(ProcessGroupError) {
        guard code != 0 else { return }
        throw .communication(operation: operation(), rank: rank, size: size, code: code, message: Self.message(code))
    }

    private static func message(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: 512)
        ck_mpi_error_string(code, &text, text.count)
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
