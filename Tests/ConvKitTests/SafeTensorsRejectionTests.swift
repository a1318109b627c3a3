import Testing
import ConvKit
import ConvKitFiles

/// Every malformed safetensors file the reader must refuse, with the error it must give.
@Suite struct SafeTensorsRejectionTests {
    /// A file from a header text and data bytes; `length` overrides the declared header length.
    func file(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        let n = length ?? UInt64(h.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + data
    }

    func decode(_ bytes: [UInt8]) throws(ModelFileError) -> SafeTensorsFile {
        try SafeTensorsFile.decode(bytes: bytes, file: "m.safetensors")
    }

    let f = "m.safetensors"
    let zeros8 = [UInt8](repeating: 0, count: 8)

    @Test func acceptsAMinimalFile() throws {
        let ok = try decode(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: zeros8))
        #expect(try ok.tensors.map(\.name) == ["a"] && ok.tensors[0].tensor == (try Tensor(zeros: [2])))
        #expect(try decode(file("{}")).tensors.isEmpty)
    }

    @Test func headerLength() {
        #expect(throws: ModelFileError.tooShort(f, size: 3)) { try decode([1, 2, 3]) }
        #expect(throws: ModelFileError.badHeaderLength(f, length: 100, fileSize: 10)) { try decode(file("{}", length: 100)) }
        let absurd = file("{}", length: 200_000_000)
        #expect(throws: ModelFileError.badHeaderLength(f, length: 200_000_000, fileSize: 10)) { try decode(absurd) }
        #expect(throws: ModelFileError.badHeaderLength(f, length: .max, fileSize: 10)) { try decode(file("{}", length: .max)) }
    }

    @Test func headerNotJSONOrNotObject() {
        let notJSON = #expect(throws: ModelFileError.self) { try decode(file("{not json")) }
        guard case .headerNotJSON(f, _) = notJSON else { Issue.record("got \(String(describing: notJSON))"); return }
        // Invalid UTF-8 and nesting deep enough to exhaust a recursive parser: errors, not traps.
        let invalidUTF8: [UInt8] = [0xFF, 0xFE, 0x7B, 0x7D]
        #expect(throws: ModelFileError.self) { try decode([4, 0, 0, 0, 0, 0, 0, 0] + invalidUTF8) }
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        #expect(throws: ModelFileError.self) { try decode(file(deep)) }
        #expect(throws: ModelFileError.headerNotObject(f)) { try decode(file("[1, 2]")) }
        #expect(throws: ModelFileError.headerNotObject(f)) { try decode(file("7")) }
    }

    @Test func entryFields() {
        #expect(throws: ModelFileError.missingField(f, tensor: "a", field: "data_offsets")) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[1]}}"#))
        }
        #expect(throws: ModelFileError.missingField(f, tensor: "a", field: "dtype")) {
            try decode(file(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
        #expect(throws: ModelFileError.badField(f, tensor: "a", field: "entry", reason: "is not an object")) {
            try decode(file(#"{"a":[1]}"#))
        }
        #expect(throws: ModelFileError.badField(f, tensor: "a", field: "shape", reason: "is not an array")) {
            try decode(file(#"{"a":{"dtype":"F32","shape":3,"data_offsets":[0,12]}}"#))
        }
        #expect(throws: ModelFileError.badField(f, tensor: "a", field: "data_offsets", reason: "is not a pair of integers")) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#))
        }
    }

    @Test func unknownDtypeIsNamed() {
        let e = #expect(throws: ModelFileError.unsupportedDtype(f, tensor: "h", dtype: "F16")) {
            try decode(file(#"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
        #expect(e?.description.contains("F16") == true)
    }

    @Test func badShapes() {
        #expect(throws: ModelFileError.badShape(f, tensor: "a", reason: "has negative dimension -2")) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,0]}}"#))
        }
        #expect(throws: ModelFileError.badShape(f, tensor: "a", reason: "element count overflows")) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}}"#))
        }
        #expect(throws: ModelFileError.badShape(f, tensor: "a", reason: "has a non-integer dimension")) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
        #expect(throws: ModelFileError.badShape(f, tensor: "a", reason: "has a non-integer dimension")) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
        #expect(throws: ModelFileError.badShape(f, tensor: "a", reason: "has a non-integer dimension")) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
    }

    @Test func offsets() {
        #expect(throws: ModelFileError.offsetsOutOfRange(f, tensor: "a", begin: 0, end: 12, dataSize: 8)) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#, data: zeros8))
        }
        #expect(throws: ModelFileError.offsetsOutOfRange(f, tensor: "a", begin: 8, end: 4, dataSize: 8)) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, data: zeros8))
        }
        #expect(throws: ModelFileError.offsetsOutOfRange(f, tensor: "a", begin: -4, end: 0, dataSize: 8)) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, data: zeros8))
        }
        #expect(throws: ModelFileError.sizeMismatch(f, tensor: "a", shape: [2], bytes: 4)) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
    }

    @Test func dataSectionMustBeCoveredExactly() {
        let twelve = [UInt8](repeating: 0, count: 12)
        #expect(throws: ModelFileError.overlap(f, first: "a", second: "b")) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: twelve))
        }
        #expect(throws: ModelFileError.hole(f, from: 4, to: 8)) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, data: twelve))
        }
        #expect(throws: ModelFileError.hole(f, from: 8, to: 12)) {
            try decode(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: twelve))
        }
        #expect(throws: ModelFileError.hole(f, from: 0, to: 8)) {
            try decode(file("{}", data: zeros8))
        }
    }

    @Test func metadataMustBeStrings() throws {
        #expect(throws: ModelFileError.badMetadata(f, reason: "value of \"k\" is not a string")) {
            try decode(file(#"{"__metadata__":{"k":1}}"#))
        }
        #expect(throws: ModelFileError.badMetadata(f, reason: "is not an object")) {
            try decode(file(#"{"__metadata__":["k"]}"#))
        }
        #expect(try decode(file(#"{"__metadata__":{"k":"v"}}"#)).metadata == ["k": "v"])
    }

    @Test func missingFileAndOneLineErrors() {
        let dir = TemporaryDirectory()
        let path = dir.path + "/none.safetensors"
        #expect(throws: ModelFileError.missingFile(path)) { try SafeTensorsFile.read(path: path) }
        let bad = dir.write("bad.safetensors", file("[]"))
        let e = #expect(throws: ModelFileError.self) { try SafeTensorsFile.read(path: bad) }
        #expect(e?.description == "\(bad): header is not a JSON object")
    }
}
