extension Sequential {
    /// Every intermediate result for one sample of `inputShape`: element 0 is the input itself,
    /// element i + 1 the output of layer i, each under that layer's per-sample shape. For
    /// pictures of what the layers see. Inference: calls may run at once from any number of threads.
    public func activations(for input: Tensor) throws(ShapeError) -> [Tensor] {
        guard input.shape == inputShape else {
            throw ShapeError("input \(shapeText(input.shape)) for a network taking \(shapeText(inputShape))")
        }
        var results = [input]
        withInferenceWorkspace(batch: 1) { workspace in
            for (i, layer) in layers.enumerated() {
                let values = [Float](unsafeUninitializedCapacity: layer.outputCount) { y, count in
                    results[i].withPointer { infer(layer: i, $0, y.baseAddress!, batch: 1, workspace: workspace) }
                    count = layer.outputCount
                }
                results.append(Tensor(unchecked: layer.outputShape, values))
            }
        }
        return results
    }
}
