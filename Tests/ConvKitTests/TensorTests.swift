import Testing
import ConvKit

@Suite struct TensorTests {
    @Test func valueSemantics() throws {
        let a = try Tensor(rows: [[1, 2], [3, 4]])
        var b = a
        b[0, 1] = 9
        #expect(a[0, 1] == 2 && b[0, 1] == 9)
        #expect(try a.reshaped([4]).scalars == [1, 2, 3, 4])
        let rotated = try Tensor(rows: [[4, 3], [2, 1]])
        #expect(a.rotated180() == rotated)
    }

    @Test func seededGeneratorRepeats() {
        var g1 = SeededGenerator(seed: 7), g2 = SeededGenerator(seed: 7), g3 = SeededGenerator(seed: 8)
        let a = (0..<5).map { _ in g1.next() }, b = (0..<5).map { _ in g2.next() }
        #expect(a == b && a != (0..<5).map { _ in g3.next() })
        var g = SeededGenerator(seed: 1)
        let normals = (0..<20_000).map { _ in Double(g.nextNormal()) }
        let mean = normals.reduce(0, +) / Double(normals.count)
        let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(normals.count)
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
    }
}

@Suite struct TensorArithmeticTests {
    let a = try! Tensor(rows: [[1, 2], [3, 4]])
    let b = try! Tensor(rows: [[0.5, -1], [2, 0]])

    @Test func elementWise() throws {
        #expect(try a + b == Tensor(rows: [[1.5, 1], [5, 4]]))
        #expect(try a - b == Tensor(rows: [[0.5, 3], [1, 4]]))
        #expect(try a * b == Tensor(rows: [[0.5, -2], [6, 0]]))
        #expect(try a + b + a == Tensor(rows: [[2.5, 3], [8, 8]]))
        #expect(try (a - b) * a == Tensor(rows: [[0.5, 6], [3, 16]]))
        #expect(try a / Tensor(rows: [[2, 4], [-1, 8]]) == Tensor(rows: [[0.5, 0.5], [-3, 0.5]]))
        #expect(a / 2 == 0.5 * a)
    }

    @Test func scalars() throws {
        #expect(2 * a == (try Tensor(rows: [[2, 4], [6, 8]])))
        #expect(a * 0.5 == (try Tensor(rows: [[0.5, 1], [1.5, 2]])))
        #expect(1 - a == (try Tensor(rows: [[0, -1], [-2, -3]])))
        #expect(a - 1 == (try Tensor(rows: [[0, 1], [2, 3]])))
        #expect(1 + a == a + 1)
        #expect(-a == (try Tensor(rows: [[-1, -2], [-3, -4]])))
        #expect(a.map { $0 * $0 } == (try a * a))
        // σ'(y) = y(1 − y), written as the math.
        #expect(try a * (1 - a) == Tensor(rows: [[0, -2], [-6, -12]]))
    }

    @Test func reductions() throws {
        #expect(a.sum() == 10)
        #expect(a.mean() == 2.5)
        #expect(try Tensor(zeros: [0]).sum() == 0)
        #expect(try Tensor(zeros: [0]).mean().isNaN)
        // Accumulated in Double: a float sum of these would lose the ones.
        let big = try Tensor(shape: [3], scalars: [1e8, 1, 1])
        #expect(big.sum() == Float(1e8 + 2))
    }

    @Test func shapesMustMatch() throws {
        let row = try Tensor(rows: [[1, 2, 3, 4]])
        #expect(throws: ShapeError("2×2 + 1×4: element-wise operands need the same shape")) { try a + row }
        #expect(throws: ShapeError.self) { try a - row }
        #expect(throws: ShapeError.self) { try a * row }
        #expect(throws: ShapeError.self) { try a / row }
        #expect(throws: ShapeError.self) { try a * (a.reshaped([4])) }
    }
}
