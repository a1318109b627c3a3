// Generated from Sources/ConvKit/ConvKit.docc/FromScratch.md by Examples/extract-snippets.sh:
// edit the article, then run the script.
import ConvKit
import Foundation

func plane(_ t: Tensor, _ i: Int) throws -> Tensor {
    let (h, w) = (t.shape[t.rank - 2], t.shape[t.rank - 1])
    return try Tensor(shape: [h, w], scalars: Array(t.scalars[i * h * w ..< (i + 1) * h * w]))
}
func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}
func random(_ shape: [Int], _ g: inout SeededGenerator) throws -> Tensor {
    try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in g.nextNormal() })
}
var g = SeededGenerator(seed: 3)

let I = try Tensor(rows: [[1, 6, 2], [5, 3, 1], [7, 0, 4]])
let K = try Tensor(rows: [[1, 2], [-1, 0]])
print(try correlateValid(I, K))                                   // [8.0 7.0; 4.0 5.0]
print(K.rotated180())                                             // [0.0 -1.0; 2.0 1.0]
print(try convolveValid(I, K))                                    // [7.0 5.0; 11.0 3.0]
print(try convolveValid(I, K) == correlateValid(I, K.rotated180()))  // true

let tall = try Tensor(shape: [5, 7], repeating: 1)
print(try correlateValid(tall, Tensor(shape: [2, 3], repeating: 1)).shape)  // [4, 5]: 5 − 2 + 1, 7 − 3 + 1

print(try correlateFull(I, K))  // [0.0 -1.0 -6.0 -2.0; 2.0 8.0 7.0 1.0; 10.0 4.0 5.0 -3.0; 14.0 7.0 8.0 4.0]
print(try convolveFull(I, K).shape)                                   // [4, 4]: 3 + 2 − 1
print(try convolveFull(I, K) == correlateFull(I, K.rotated180()))     // true

let X = try random([1, 2, 4, 4], &g)
let Kij = try random([3, 2, 2, 2], &g)
let B = try random([3, 3, 3], &g)
let Y = try conv2d(X, kernel: Kij, bias: B)
print(Y.shape)                                                    // [1, 3, 3, 3]

// Y_1 = B_1 + X_0 ⋆ K_10 + X_1 ⋆ K_11, plane by plane:
let Y1 = try plane(B, 1) + correlateValid(plane(X, 0), plane(Kij, 2)) + correlateValid(plane(X, 1), plane(Kij, 3))
print(maxDifference(Y1, try plane(Y, 1)) < 1e-5)                 // true

let dY = try random([1, 3, 3, 3], &g)
let dK = try conv2dKernelGradient(input: X, outputGradient: dY)
print(dK.shape)                                                   // [3, 2, 2, 2], as the kernels
// ∂E/∂K_21 = X_1 ⋆ ∂E/∂Y_2:
print(maxDifference(try plane(dK, 2 * 2 + 1), try correlateValid(plane(X, 1), plane(dY, 2))) < 1e-5)  // true

print(try conv2dBiasGradient(outputGradient: dY, untied: true).scalars == dY.scalars)  // true
print(try conv2dBiasGradient(outputGradient: dY).shape)          // [3]

let dX = try conv2dInputGradient(outputGradient: dY, kernel: Kij)
print(dX.shape)                                                   // [1, 2, 4, 4], as X
// ∂E/∂X_0 = ∂E/∂Y_0 *full K_00 + ∂E/∂Y_1 *full K_10 + ∂E/∂Y_2 *full K_20:
let dX0 = try convolveFull(plane(dY, 0), plane(Kij, 0)) + convolveFull(plane(dY, 1), plane(Kij, 2))
    + convolveFull(plane(dY, 2), plane(Kij, 4))
print(maxDifference(dX0, try plane(dX, 0)) < 1e-5)               // true

let A = sigmoid(Y)
let dA = try random(A.shape, &g)
let dYThroughSigmoid = try sigmoidGradient(outputGradient: dA, output: A)
print(maxDifference(dYThroughSigmoid, try dA * A * (1 - A)) < 1e-6)  // true
print(maxDifference(A, 1 / (1 + (-Y).map(exp))) < 1e-6)          // true: σ(Y) = 1 / (1 + e^−Y)

let y = try Tensor(rows: [[0.8], [0.3]]), yStar = try Tensor(rows: [[1], [0]])
let (error, dError) = try BinaryCrossEntropy().loss(outputs: y, targets: yStar)
print(error)   // 0.28990924: −(log 0.8 + log 0.7)/2
print(dError)  // [-0.625; 0.71428573]: (−1/0.8)/2 and (1/0.7)/2
let E = -(try yStar * y.map(log) + (1 - yStar) * (1 - y).map(log)).mean()
let dE = try ((1 - yStar) / (1 - y) - yStar / y) / Float(y.count)
print(abs(E - error) < 1e-6, maxDifference(dE, dError) < 1e-6)   // true true

let x = try random([1, 1, 6, 6], &g), target = try Tensor(rows: [[1, 0]])
let k = try random([2, 1, 3, 3], &g), b = try random([2, 4, 4], &g)
let w = try random([2, 32], &g), c = try random([2], &g)
let rate: Float = 0.1

// Forward.
let a1 = sigmoid(try conv2d(x, kernel: k, bias: b))                       // (1, 2, 4, 4)
let a2 = sigmoid(try dense(a1.reshaped([1, 32]), weight: w, bias: c))     // (1, 2)
let (stepError, dA2) = try BinaryCrossEntropy().loss(outputs: a2, targets: target)
// Backward.
let denseStep = try denseGradients(input: a1.reshaped([1, 32]), weight: w,
                                   outputGradient: sigmoidGradient(outputGradient: dA2, output: a2))
let dY1 = try sigmoidGradient(outputGradient: denseStep.input.reshaped(a1.shape), output: a1)
let dk = try conv2dKernelGradient(input: x, outputGradient: dY1)
let db = try conv2dBiasGradient(outputGradient: dY1, untied: true)
// Update, W ← W − η ∂E/∂W.
let updated = try [k - rate * dk, b - rate * db, w - rate * denseStep.weight, c - rate * denseStep.bias]

let network = try Architecture(input: [1, 6, 6], spec: "conv 2 3 untied, sigmoid, flatten, dense 2, sigmoid").build()
for (parameter, value) in zip(network.parameters, [k, b, w, c]) { try parameter.set(value) }
let sgd = try SGD(parameters: network.parameters, learningRate: rate)
let libraryError = try network.trainingStep(inputs: x, targets: target, loss: BinaryCrossEntropy(), optimizer: sgd)
print(abs(libraryError - stepError) < 1e-6)                                          // true
print(zip(network.parameters, updated).allSatisfy { maxDifference($0.tensor, $1) < 1e-5 })  // true

print(1, libraryError)
for step in 2...6 {
    print(step, try network.trainingStep(inputs: x, targets: target, loss: BinaryCrossEntropy(), optimizer: sgd))
}

