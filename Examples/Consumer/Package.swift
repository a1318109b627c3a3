// swift-tools-version:6.2
// ConvKit used the way an application uses it: by version, from its git URL.
import PackageDescription
import Foundation

// CI points CONVKIT_GIT_URL at a clone tagged with the library's version (Examples/run-consumer.sh);
// the default is the repository this example lives in, which needs a tag 0.2.0 or later.
let convKitURL = ProcessInfo.processInfo.environment["CONVKIT_GIT_URL"]
    ?? "file://" + URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().deletingLastPathComponent().path
// SwiftPM names a package after the last component of its URL, which depends on where it was cloned.
var convKitIdentity = String(convKitURL.split(separator: "/").last ?? "").lowercased()
if convKitIdentity.hasSuffix(".git") { convKitIdentity.removeLast(4) }
let convKit = Target.Dependency.product(name: "ConvKit", package: convKitIdentity)

let package = Package(
    name: "Consumer",
    dependencies: [
        .package(url: convKitURL, from: "0.2.0"),
    ],
    targets: [
        // The README program: kernels called directly, then a small CNN trained on float arrays.
        .executableTarget(name: "consumer", dependencies: [convKit]),
        // The code of the DocC articles, written out by Examples/extract-snippets.sh, so what the
        // documentation shows is compiled and run.
        .executableTarget(name: "GettingStarted", dependencies: [convKit]),
        .executableTarget(name: "FromScratch", dependencies: [convKit]),
        // A layer of the application's own (CustomLayer) trained inside a ConvKit network.
        .executableTarget(name: "CustomLayer", dependencies: [convKit]),
    ]
)
