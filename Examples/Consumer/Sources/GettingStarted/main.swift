// Generated from Sources/ConvKit/ConvKit.docc/GettingStarted.md by Examples/extract-snippets.sh:
// edit the article, then run the script.
import ConvKit

let network = try Architecture(input: [1, 8, 8], spec: "conv 4 3, relu, maxpool 2, flatten, dense 2").build()
var generator = SeededGenerator(seed: 1)
network.initialize(.auto, generator: &generator)
print(network)  // one line per layer: output shape, parameters, MFLOP per image

let conv = try Conv2D(input: [1, 8, 8], filters: 4, kernelHeight: 3, kernelWidth: 3)
let pool = try MaxPool2D(input: conv.outputShape, size: 2)
let flatten = try Reshape(flattening: pool.outputShape)
let layers: [any Layer] = [conv, try ReLU(input: conv.outputShape), pool, flatten,
                           try Dense(input: flatten.outputShape, outputs: 2)]
let handBuilt = try Sequential(inputShape: [1, 8, 8], layers: layers)
handBuilt.initialize(.auto, generator: &generator)
print(handBuilt.layers.map(\.spec).joined(separator: ", "))  // conv 4 3, relu, maxpool 2, flatten, dense 2

func bars(count: Int, generator g: inout SeededGenerator) throws -> (images: Tensor, labels: [Int]) {
    var pixels: [Float] = [], labels: [Int] = []
    for i in 0..<count {
        let label = i % 2, bar = Int(g.next() % 8)
        for row in 0..<8 {
            for column in 0..<8 { pixels.append((label == 0 ? column : row) == bar ? 1 : 0.5 * g.nextUnitFloat()) }
        }
        labels.append(label)
    }
    return (try Tensor(shape: [count, 1, 8, 8], scalars: pixels), labels)
}
let (images, labels) = try bars(count: 256, generator: &generator)
let (testImages, testLabels) = try bars(count: 100, generator: &generator)

let trainingSet = try LabeledImages(inputs: images, labels: labels)
let testSet = try LabeledImages(inputs: testImages, labels: testLabels)
let trainer = try Trainer(network: network, loss: SoftmaxCrossEntropy(),
                          optimizer: Adam(parameters: network.parameters, learningRate: 0.01),
                          batchSize: 16, reshuffle: true)
try trainer.fit(trainingSet, epochs: 0..<4, test: testSet) { report in
    print("epoch \(report.epoch): loss \(report.loss), test accuracy \(report.testAccuracy ?? 0)")
}

let sgd = try SGD(parameters: handBuilt.parameters, learningRate: 0.1)
for epoch in 1...4 {
    var total: Float = 0
    for start in stride(from: 0, to: 256, by: 32) {
        let batch = try Tensor(shape: [32, 1, 8, 8], scalars: Array(images.scalars[start * 64 ..< (start + 32) * 64]))
        total += try handBuilt.trainingStep(inputs: batch, labels: Array(labels[start ..< start + 32]),
                                            loss: SoftmaxCrossEntropy(), optimizer: sgd)
    }
    print("epoch \(epoch): mean batch loss \(total / 8)")
}

print(try network.predict(testImages).prefix(6))          // the classes of the first six test images
print(try network.forward(testImages).shape)              // [100, 2]
let evaluation = try handBuilt.evaluate(inputs: testImages, labels: testLabels, loss: SoftmaxCrossEntropy())
print(evaluation.accuracy, evaluation.confusion)

let plane = try Tensor(rows: [[1, 6, 2], [5, 3, 1], [7, 0, 4]])
let kernel = try Tensor(rows: [[1, 2], [-1, 0]])
print(try correlateValid(plane, kernel))  // [8.0 7.0; 4.0 5.0]

let feature = try conv2d(testImages, kernel: conv.kernel.tensor, bias: conv.bias?.tensor)
print(feature.shape)                      // [100, 4, 6, 6]: the first layer of handBuilt
print(relu(feature).scalars.allSatisfy { $0 >= 0 })

