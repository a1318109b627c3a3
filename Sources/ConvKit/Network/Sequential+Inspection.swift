extension Sequential {
    /// Every intermediate result for one sample: element 0 is `input` itself, element i + 1 the
    /// output of layer i, each under that layer's per-sample shape. For pictures of what the layers see.
    public func activations(for input: Tensor) -> [Tensor] {
        let perSample = inputShape.reduce(1, *)
        precondition(input.count == perSample, "input \(input.shape) for a network taking \(inputShape)")
        reserve(batch: 1)
        input.withPointer { self.input.update(from: $0, count: perSample) }
        forward(batch: 1)
        let shapes = [inputShape] + layers.map(\.outputShape)
        return shapes.enumerated().map { i, shape in
            Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: activation(i), count: shape.reduce(1, *))))
        }
    }
}
