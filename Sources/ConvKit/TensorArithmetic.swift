/// Element-wise arithmetic (+ − ⊙ ⊘, with tensors or scalars) and reductions, so the equations can be written as they read:
/// `try B + correlateValid(X, K)`, `try dA * A * (1 - A)`, `-(try t * y.map(log)).mean()`.
///
/// Two tensors combine only when their shapes are equal (no broadcasting, so a slip of shape is
/// an error rather than a silent expansion): the operators throw `ShapeError` otherwise, and one
/// `try` covers a whole expression. A scalar combines with every element and cannot fail.
extension Tensor {
    /// a + b, element by element.
    public static func + (a: Tensor, b: Tensor) throws(ShapeError) -> Tensor { try a.zipped(b, "+", +) }
    /// a − b, element by element.
    public static func - (a: Tensor, b: Tensor) throws(ShapeError) -> Tensor { try a.zipped(b, "−", -) }
    /// a ⊙ b, the Hadamard (element-wise) product; matrix products are `dense` and the correlations.
    public static func * (a: Tensor, b: Tensor) throws(ShapeError) -> Tensor { try a.zipped(b, "⊙", *) }
    /// a ⊘ b, element by element (IEEE 754: x/0 is ±∞ or NaN).
    public static func / (a: Tensor, b: Tensor) throws(ShapeError) -> Tensor { try a.zipped(b, "⊘", /) }

    /// s·t, every element scaled.
    public static func * (s: Float, t: Tensor) -> Tensor { t.map { s * $0 } }
    /// t·s, every element scaled.
    public static func * (t: Tensor, s: Float) -> Tensor { t.map { $0 * s } }
    /// s + t, s added to every element.
    public static func + (s: Float, t: Tensor) -> Tensor { t.map { s + $0 } }
    /// t + s, s added to every element.
    public static func + (t: Tensor, s: Float) -> Tensor { t.map { $0 + s } }
    /// s − t, every element subtracted from s: `1 - A` is 1 − A element-wise.
    public static func - (s: Float, t: Tensor) -> Tensor { t.map { s - $0 } }
    /// t − s, s subtracted from every element.
    public static func - (t: Tensor, s: Float) -> Tensor { t.map { $0 - s } }
    /// s / t, s divided by every element: `1 / (1 + e)`.
    public static func / (s: Float, t: Tensor) -> Tensor { t.map { s / $0 } }
    /// t / s, every element divided by s.
    public static func / (t: Tensor, s: Float) -> Tensor { t.map { $0 / s } }
    /// −t, every element negated.
    public static prefix func - (t: Tensor) -> Tensor { t.map { -$0 } }

    /// `transform` applied to every element, the shape kept: `y.map(log)`, `x.map { max($0, 0) }`.
    public func map(_ transform: (Float) throws -> Float) rethrows -> Tensor {
        Tensor(unchecked: shape, try scalars.map(transform))
    }

    /// Σ of all elements, accumulated in `Double` in row-major order, so it is the same on every
    /// run and rounds once; 0 for a tensor without elements.
    public func sum() -> Float {
        Float(scalars.reduce(0 as Double) { $0 + Double($1) })
    }

    /// The mean of all elements, `sum()` over `count`; NaN for a tensor without elements.
    public func mean() -> Float {
        count == 0 ? .nan : Float(scalars.reduce(0 as Double) { $0 + Double($1) } / Double(count))
    }

    private func zipped(_ other: Tensor, _ symbol: String, _ op: (Float, Float) -> Float) throws(ShapeError) -> Tensor {
        guard shape == other.shape else {
            throw ShapeError("\(shapeText(shape)) \(symbol) \(shapeText(other.shape)): element-wise operands need the same shape")
        }
        return Tensor(unchecked: shape, zip(scalars, other.scalars).map(op))
    }
}
