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
