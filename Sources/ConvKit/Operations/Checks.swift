// Shape checks shared by the tensor-level kernel calls: each call checks its shapes once, then
// hands C plain Int32 dimensions it can index with.

/// The largest element count a C kernel is handed: its loops index with 32-bit products.
let kernelElementLimit = Int(Int32.max)

/// `tensor`'s dimensions as C ints, after checking its rank, that no dimension is zero and that
/// its element count fits the kernels' 32-bit indexing.
func dimensions(_ tensor: Tensor, rank: Int, _ what: String) throws(ShapeError) -> [Int32] {
    guard tensor.rank == rank else {
        throw ShapeError("\(what) must have rank \(rank), got shape \(shapeText(tensor.shape))")
    }
    guard tensor.shape.allSatisfy({ $0 > 0 }) else { throw ShapeError("\(what) is empty: shape \(shapeText(tensor.shape))") }
    try checkKernelSize(tensor.shape, what)
    return tensor.shape.map { Int32($0) }
}

/// Throws unless a tensor of `shape` fits the kernels' 32-bit indexing.
func checkKernelSize(_ shape: [Int], _ what: String) throws(ShapeError) {
    guard let count = Tensor.elementCount(shape), count <= kernelElementLimit else {
        throw ShapeError("\(what) \(shapeText(shape)) has more than \(kernelElementLimit) elements")
    }
}

/// A zero tensor of a shape the caller has checked with `checkKernelSize`.
func zeros(_ shape: [Int]) -> Tensor {
    Tensor(unchecked: shape, [Float](repeating: 0, count: shape.reduce(1, *)))
}
