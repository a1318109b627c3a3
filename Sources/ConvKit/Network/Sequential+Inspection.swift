extension Sequential {
    /// Every intermediate result for one sample of `inputShape`: element 0 is the input itself,
    /// element i + 1 the output of layer i, each under that layer's per-sample shape. For
    /// pictures of what the layers see.
    public func activations(for input: Tensor) throws(ShapeError) -> [Tensor] {
        guard input.shape == inputShape else {
            throw ShapeError("input \(shapeText(input.shape)) for a network taking \(shapeText(inputShape))")
        }
        _ = try forward(input)
        let shapes = [inputShape] + layers.map(\.outputShape)
        return shapes.enumerated().map { i, shape in
            Tensor(unchecked: shape, Array(UnsafeBufferPointer(start: activation(i), count: shape.reduce(1, *))))
        }
    }
}
