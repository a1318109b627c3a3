/// A shape and its scalars, row-major and contiguous. A value: copies share storage until one
/// of them is written.
///
/// Every initialiser checks that the scalars fill the shape and throws `ShapeError` when they
/// don't; subscripts trap on an index outside the shape, as `Array`'s do.
public struct Tensor: Equatable, Sendable {
    /// The size of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The values in row-major order; `scalars.count` is the product of `shape`.
    public private(set) var scalars: [Float]

    /// A tensor of `shape` holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Float]) throws(ShapeError) {
        guard let count = Self.elementCount(shape) else {
            throw ShapeError("shape \(shape) has a negative dimension or too many elements")
        }
        guard count == scalars.count else {
            throw ShapeError("shape \(shapeText(shape)) needs \(count) scalars, got \(scalars.count)")
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// For shapes the package has already checked.
    package init(unchecked shape: [Int], _ scalars: [Float]) {
        assert(Self.elementCount(shape) == scalars.count)
        self.shape = shape
        self.scalars = scalars
    }

    /// Zeros of `shape`.
    public init(zeros shape: [Int]) throws(ShapeError) {
        try self.init(shape: shape, repeating: 0)
    }

    /// `value` everywhere in `shape`.
    public init(shape: [Int], repeating value: Float) throws(ShapeError) {
        guard let count = Self.elementCount(shape), count <= Self.maxElements else {
            throw ShapeError("shape \(shape) has a negative dimension or more than \(Self.maxElements) elements")
        }
        self.init(unchecked: shape, [Float](repeating: value, count: count))
    }

    /// A 2-D tensor from its rows, which must all be as long.
    public init(rows: [[Float]]) throws(ShapeError) {
        let width = rows.first?.count ?? 0
        guard rows.allSatisfy({ $0.count == width }) else { throw ShapeError("rows of different lengths") }
        self.init(unchecked: [rows.count, width], rows.flatMap { $0 })
    }

    /// The most elements `init(zeros:)` and `init(shape:repeating:)` allocate (2^31, 8 GiB),
    /// so a mistyped shape is an error rather than an attempt at a giant allocation.
    public static let maxElements = 1 << 31

    /// The product of the dimensions, or nil if one is negative or the product overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var product = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            product = p
        }
        return product
    }

    /// The number of scalars, the product of `shape`.
    public var count: Int { scalars.count }
    /// The number of axes.
    public var rank: Int { shape.count }

    /// The scalar at a full index, one coordinate per axis.
    public subscript(_ index: Int...) -> Float {
        get { scalars[offset(index)] }
        set { scalars[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var at = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of shape \(shape)")
            at = at * n + i
        }
        return at
    }

    /// The same scalars under another shape with as many elements.
    public func reshaped(_ newShape: [Int]) throws(ShapeError) -> Tensor {
        try Tensor(shape: newShape, scalars: scalars)
    }

    /// Gives the shape a new value of the same element count without touching the storage.
    public mutating func reshape(_ newShape: [Int]) throws(ShapeError) {
        guard Self.elementCount(newShape) == scalars.count else {
            throw ShapeError("cannot reshape \(shapeText(shape)) to \(shapeText(newShape))")
        }
        shape = newShape
    }

    /// Calls `body` with the scalars' storage; the pointer is valid only inside `body`.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with the scalars' storage to write; the shape stays as it is.
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    package func withPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    package mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }
}

/// The number of values of `shape`, checked: what the package calls before it allocates from a
/// shape a caller gave (a parameter, a layer's samples, a network's buffers). Throws unless every
/// dimension is at least 1 and the product, computed without overflow, is at most `limit`
/// (`Architecture.maxElements` unless said otherwise). `what` names the shape in the message.
package func checkedCount(_ shape: [Int], limit: Int = Architecture.maxElements,
                          what: @autoclosure () -> String) throws(ShapeError) -> Int {
    guard shape.allSatisfy({ $0 >= 1 }) else { throw ShapeError("\(what()) must have positive dimensions") }
    guard let count = Tensor.elementCount(shape), count <= limit else { throw ShapeError("\(what()) exceeds \(limit) values") }
    return count
}

extension Tensor: CustomStringConvertible {
    /// A 2-D tensor as "[a b; c d]", anything else as its shape and first scalars.
    public var description: String {
        guard rank == 2 else { return "Tensor(\(shape), \(scalars.prefix(16))\(count > 16 ? "…" : ""))" }
        let rows = (0..<shape[0]).map { r in
            (0..<shape[1]).map { c in String(self[r, c]) }.joined(separator: " ")
        }
        return "[" + rows.joined(separator: "; ") + "]"
    }
}

/// A shape that does not fit what an operation or layer needs; the description says which
/// shapes met and what was expected.
public struct ShapeError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What does not fit, in one line.
    public let description: String
    /// An error with `description` as its message.
    public init(_ description: String) { self.description = description }
}
