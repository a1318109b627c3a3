// mpi-probe: checks and times ProcessGroup under mpirun (Tests/ConvKitTests/ProcessGroupTests.swift
// runs it). Every rank prints one line.
//   mpirun -np 3 mpi-probe check         sums bit-identical across ranks and to the rank-order sum
//   mpirun -np 2 mpi-probe bench [n] [k]  median and fastest of k sums of n floats, without and with a timeout
//   mpirun -np 2 mpi-probe die            the last rank is killed; the others time out after 5 s
import ConvKit
import Foundation

let arguments = CommandLine.arguments.dropFirst()
let world: ProcessGroup
do { world = try ProcessGroup.world } catch {
    FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
    exit(1)
}
let prefix = "rank \(world.rank) of \(world.size):"

/// Rank r's vector: signs and exponents spread over 2^-20 … 2^20, so a sum in another order
/// rounds differently in many elements.
func contribution(rank: Int, count: Int) -> [Float] {
    var rng = SeededGenerator(seed: UInt64(count) &* 7919 &+ UInt64(rank) &+ 1)
    return (0..<count).map { _ in
        let exponent = Int(rng.next() % 41) - 20
        return (rng.nextUnitFloat() * 2 - 1) * Float(sign: .plus, exponent: exponent, significand: 1)
    }
}

func sumInOrder(_ ranks: [Int], count: Int) -> [Float] {
    var total = contribution(rank: ranks[0], count: count)
    for r in ranks.dropFirst() {
        let v = contribution(rank: r, count: count)
        for i in 0..<count { total[i] += v[i] }
    }
    return total
}

func bitsEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

func check() throws -> [String] {
    var failures: [String] = []
    var orderSensitive = 0
    // Empty, fewer elements than ranks, not divisible by the rank count, and large; through the
    // blocking collectives (no timeout) and the non-blocking ones (a timeout).
    let counts = [0, 1, 2, 3, 5, 64, 1000, 100_003]
    for (timeout, count) in [0.0, 60].flatMap({ t in counts.map { (t, $0) } }) {
        world.timeout = timeout
        let expected = sumInOrder(Array(0..<world.size), count: count)
        let reversed = sumInOrder(Array((0..<world.size).reversed()), count: count)
        if timeout == 0 { orderSensitive += zip(expected, reversed).filter { $0.bitPattern != $1.bitPattern }.count }

        var values = contribution(rank: world.rank, count: count)
        try world.allReduceSum(&values)
        if !bitsEqual(values, expected) { failures.append("[Float] sum of \(count) (timeout \(timeout)) differs from the rank-order sum") }

        // The same through two Buffers, which travel packed as one vector.
        let mine = contribution(rank: world.rank, count: count), split = count / 3
        let a = Buffer(count: split), b = Buffer(count: count - split)
        a.copy(from: Array(mine[..<split]))
        b.copy(from: Array(mine[split...]))
        try world.allReduceSum([a, b])
        if !bitsEqual(a.array + b.array, expected) { failures.append("[Buffer] sum of \(count) differs from the rank-order sum") }

        var main = values
        try world.broadcast(&main)
        if !bitsEqual(values, main) { failures.append("sum of \(count) differs from rank 0's") }
    }

    let loss = try world.sum(0.1 * Double(world.rank + 1))
    let expectedLoss = (1...world.size).reduce(0.0) { $0 + 0.1 * Double($1) }
    if loss.bitPattern != expectedLoss.bitPattern { failures.append("double sum \(loss), expected \(expectedLoss)") }
    let correct = try world.sum(world.rank + 1)
    if correct != world.size * (world.size + 1) / 2 { failures.append("integer sum \(correct)") }

    var bytes: [UInt8] = world.isMain ? Array("from rank 0".utf8) : []
    try world.broadcast(&bytes)
    if String(decoding: bytes, as: UTF8.self) != "from rank 0" { failures.append("byte broadcast gave \(bytes)") }

    let weights = Buffer(count: 10)
    if world.isMain { weights.fill(2.5) }
    try world.broadcast(weights)
    if weights.array != [Float](repeating: 2.5, count: 10) { failures.append("Buffer broadcast") }
    try world.barrier()

    return failures.isEmpty
        ? ["ok: float sums bit-identical to the rank-order sum and to rank 0's; \(orderSensitive) elements would differ summed in reverse rank order"]
        : failures.map { "FAIL: \($0)" }
}

/// Times the sum with no timeout (blocking collectives) and with one (non-blocking ones, polled),
/// alternating so that both see the same load.
func bench(count: Int, repetitions: Int) throws -> [String] {
    let values = Buffer(count: count)
    values.copy(from: contribution(rank: world.rank, count: count))
    let timeouts: [Double] = [0, 60]
    var seconds: [[Double]] = timeouts.map { _ in [] }
    for timeout in timeouts {  // grows the work buffer, warms up connections
        world.timeout = timeout
        try world.allReduceSum([values])
    }
    for _ in 0..<repetitions {
        for (i, timeout) in timeouts.enumerated() {
            world.timeout = timeout
            try world.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            try world.allReduceSum([values])
            seconds[i].append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
    }
    return zip(timeouts, seconds).map { timeout, s in
        let sorted = s.sorted()
        return String(format: "sum of %d floats, %@: median %.1f µs, fastest %.1f µs over %d runs", count,
                      timeout == 0 ? "blocking" : "with a timeout", sorted[sorted.count / 2] * 1e6, sorted[0] * 1e6, repetitions)
    }
}

do {
    let lines: [String]
    switch arguments.first {
    case "die":
        // The last rank dies without a word; the others go on summing and must fail with a
        // clear error rather than hang (plain mpirun ends the job before that).
        world.timeout = 5
        if world.rank == world.size - 1 && world.size > 1 { kill(getpid(), SIGKILL) }
        var values = [Float](repeating: 1, count: 100_000)
        for _ in 0..<1000 { try world.allReduceSum(&values) }
        lines = ["FAIL: summed 1000 times with a dead rank"]
    case "bench":
        let count = arguments.dropFirst().first.flatMap { Int($0) } ?? 100_000
        let repetitions = arguments.dropFirst(2).first.flatMap { Int($0) } ?? 51
        lines = try bench(count: count, repetitions: repetitions)
    default:
        lines = try check()
    }
    for line in lines { print(prefix, line) }
    try world.finalize()
    exit(lines.contains { $0.hasPrefix("FAIL") } ? 1 : 0)
} catch {
    FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
    world.abort(code: 1)
}
