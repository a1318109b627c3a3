import ConvKit
import Foundation

// The kernels on tensors: the tutorial's worked example, then a convolutional layer on a batch.
let image = try Tensor(rows: [[1, 6, 2], [5, 3, 1], [7, 0, 4]])
let kernel = try Tensor(rows: [[1, 2], [-1, 0]])
print("correlation \(try correlateValid(image, kernel)), convolution \(try convolveValid(image, kernel))")
let batch = try Tensor(shape: [2, 1, 3, 3], scalars: image.scalars + image.rotated180().scalars)
let y = try conv2d(batch, kernel: kernel.reshaped([1, 1, 2, 2]), bias: Tensor(shape: [1], scalars: [0.5]))
print("conv2d \(batch.shape) -> \(y.shape): \(y.scalars)")

// A small CNN from a spec; weights start at zero until initialised from a seed.
let network = try Architecture(input: [1, 8, 8], spec: "conv 4 3, relu, maxpool 2, flatten, dense 2").build()
var generator = SeededGenerator(seed: 7)
network.initialize(.auto, generator: &generator)
print(network)

// Your own float arrays: 8×8 noisy images with a bright vertical (class 0) or horizontal (class 1) bar.
func bars(_ count: Int, _ g: inout SeededGenerator) throws -> (images: Tensor, labels: [Int]) {
    var pixels: [Float] = [], labels: [Int] = []
    for i in 0..<count {
        let label = i % 2, bar = Int(g.next() % 8)
        for r in 0..<8 { for c in 0..<8 { pixels.append((label == 0 ? c : r) == bar ? 1 : 0.5 * g.nextUnitFloat()) } }
        labels.append(label)
    }
    return (try Tensor(shape: [count, 1, 8, 8], scalars: pixels), labels)
}
let (trainImages, trainLabels) = try bars(256, &generator), (testImages, testLabels) = try bars(100, &generator)

let trainer = try Trainer(network: network, loss: SoftmaxCrossEntropy(),
                          optimizer: Adam(parameters: network.parameters, learningRate: 0.01), batchSize: 16, reshuffle: true)
try trainer.fit(LabeledImages(inputs: trainImages, labels: trainLabels), epochs: 0..<5) { report in
    print("epoch \(report.epoch): training loss \(String(format: "%.4f", report.loss))")
}
let predicted = try network.predict(testImages)
let accuracy = Double(zip(predicted, testLabels).filter { $0 == $1 }.count) / Double(testLabels.count)
print("predicted \(predicted.prefix(10)), true \(testLabels.prefix(10)), test accuracy \(accuracy)")
guard accuracy >= 0.9 else { print("test accuracy below 0.9: something broke"); exit(1) }
