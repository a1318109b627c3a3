/// The version of the ConvKit library, as tagged in its repository (semantic versioning).
public let version = "0.2.0"
