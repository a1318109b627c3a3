import ConvKit

extension Dataset {
    /// The images a subset picks, with its classes, as the trainer takes them: samples of
    /// channels × rows × cols 8-bit pixels.
    public func labeledImages(_ subset: Subset) throws(TrainingDataError) -> LabeledImages {
        try LabeledImages(bytes: images, sampleShape: sampleShape, indices: subset.indices, labels: subset.targets,
                          classes: subset.digits.count)
    }
}
