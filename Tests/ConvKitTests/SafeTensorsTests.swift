import Testing
import Foundation
import ConvKit
import ConvKitFiles

@Suite struct SafeTensorsTests {
    static let sample = SafeTensorsFile(
        tensors: [
            ("conv1.weight", try! Tensor(shape: [2, 1, 3, 3], scalars: (0..<18).map { Float($0) * 0.1 - 0.7 })),
            ("conv1.bias", try! Tensor(shape: [2], scalars: [-0.0, .leastNonzeroMagnitude])),
            ("dense \"out\"\n", try! Tensor(shape: [1, 3], scalars: [.greatestFiniteMagnitude, -.infinity, 1e-30])),
            ("empty", try! Tensor(shape: [0, 4], scalars: [])),
            ("scalar", try! Tensor(shape: [], scalars: [42])),
        ],
        metadata: ["format": "pt", "convkit": "0.1 \"quoted\"\\"])

    @Test func roundTripIsBitExact() throws {
        let bytes = try Self.sample.encode()
        let back = try SafeTensorsFile.decode(bytes: bytes)
        #expect(back == Self.sample)
        #expect(back.tensors.map(\.name) == Self.sample.tensors.map(\.name))
        for ((_, a), (_, b)) in zip(back.tensors, Self.sample.tensors) {
            #expect(a.shape == b.shape && a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern))
        }
        #expect(back.metadata == Self.sample.metadata)
        #expect(back["conv1.bias"]?.shape == [2])
    }

    @Test func writeIsAtomicAndReadable() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/model.safetensors"
        dir.write("model.safetensors", [1, 2, 3])  // an older file, replaced whole
        try Self.sample.write(path: path)
        #expect(try SafeTensorsFile.read(path: path) == Self.sample)
        #expect(try dir.contents("model.safetensors") == Self.sample.encode())
        // No temporary file left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.safetensors"])
        #expect(throws: ModelFileError.self) { try Self.sample.write(path: dir.path + "/no/such/dir/m.safetensors") }
    }

    /// Reads what the library wrote with a reader that shares none of its code.
    @Test func independentReaderAgrees() throws {
        let bytes = try Self.sample.encode()
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        #expect(n % 8 == 0, "header padded to a multiple of 8")
        let headerText = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        #expect(headerText.first == "{")
        var parser = MiniJSON(text: headerText)
        guard case .object(let entries) = try parser.parse() else { Issue.record("header not an object"); return }

        #expect(entries.first?.0 == "__metadata__")
        if case .object(let meta) = entries.first?.1 {
            #expect(meta.map(\.0) == ["convkit", "format"])
            #expect(meta.map { if case .string(let s) = $0.1 { s } else { "" } } == ["0.1 \"quoted\"\\", "pt"])
        } else { Issue.record("metadata not an object") }

        let tensorEntries = entries.dropFirst()
        #expect(tensorEntries.map(\.0) == Self.sample.tensors.map(\.name))
        let data = Array(bytes[(8 + n)...])
        var expectedOffset = 0
        for ((name, value), (_, tensor)) in zip(tensorEntries, Self.sample.tensors) {
            guard case .object(let fields) = value else { Issue.record("\(name) not an object"); continue }
            let dict = Dictionary(uniqueKeysWithValues: fields)
            #expect(dict["dtype"] == .string("F32"))
            #expect(dict["shape"] == .array(tensor.shape.map { .number($0) }))
            let end = expectedOffset + 4 * tensor.count
            #expect(dict["data_offsets"] == .array([.number(expectedOffset), .number(end)]))
            let values = stride(from: expectedOffset, to: end, by: 4).map { i in
                UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            }
            #expect(values == tensor.scalars.map(\.bitPattern), "\(name)")
            expectedOffset = end
        }
        #expect(expectedOffset == data.count)
    }

    /// Whether python3 is on the PATH, for the one test that runs it.
    static let hasPython = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .contains { FileManager.default.isExecutableFile(atPath: "\($0)/python3") }

    @Test(.enabled(if: hasPython, "needs python3 on the PATH"))
    func pythonReadsWhatWeWrite() throws {
        let dir = TemporaryDirectory()
        try Self.sample.write(path: dir.path + "/m.safetensors")
        let script = """
        import json, struct, sys
        b = open(sys.argv[1], 'rb').read()
        n = struct.unpack('<Q', b[:8])[0]
        h = json.loads(b[8:8 + n])
        meta = h.pop('__metadata__')
        out = [json.dumps(meta, sort_keys=True)]
        for name, e in sorted(h.items(), key=lambda kv: kv[1]['data_offsets'][0]):
            s, t = e['data_offsets']
            vals = struct.unpack('<%df' % ((t - s) // 4), b[8 + n + s:8 + n + t])
            out.append('%s|%s|%s|%s' % (json.dumps(name), e['dtype'], e['shape'], ','.join(repr(v) for v in vals)))
        print('\\n'.join(out))
        """
        let p = Process()
        let pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir.path + "/m.safetensors"]
        p.standardOutput = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == #"{"convkit": "0.1 \"quoted\"\\", "format": "pt"}"#)
        #expect(lines.dropFirst().map { $0.split(separator: "|").first.map(String.init) ?? "" }
                == [#""conv1.weight""#, #""conv1.bias""#, #""dense \"out\"\n""#, #""empty""#, #""scalar""#])
        #expect(lines.contains(#""scalar"|F32|[]|42.0"#))
        #expect(lines.contains(#""conv1.bias"|F32|[2]|-0.0,1.401298464324817e-45"#))
    }
}

/// Just enough JSON for a safetensors header (objects kept in order, arrays, strings, integers),
/// written for the test so the library's output is not checked by the library's own parser.
enum JSONValue: Equatable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Int)

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        default: return false
        }
    }
}

struct MiniJSON {
    struct Failure: Error {}
    let chars: [Character]
    var at = 0
    init(text: String) { chars = Array(text) }

    mutating func parse() throws -> JSONValue {
        let v = try value()
        skipSpace()
        guard at == chars.count else { throw Failure() }
        return v
    }

    mutating func skipSpace() { while at < chars.count, chars[at].isWhitespace { at += 1 } }

    mutating func expect(_ c: Character) throws {
        skipSpace()
        guard at < chars.count, chars[at] == c else { throw Failure() }
        at += 1
    }

    mutating func value() throws -> JSONValue {
        skipSpace()
        guard at < chars.count else { throw Failure() }
        switch chars[at] {
        case "{":
            at += 1
            var fields: [(String, JSONValue)] = []
            skipSpace()
            if chars[at] == "}" { at += 1; return .object([]) }
            repeat {
                skipSpace()
                guard case .string(let key) = try value() else { throw Failure() }
                try expect(":")
                fields.append((key, try value()))
                skipSpace()
                at += 1
            } while chars[at - 1] == ","
            guard chars[at - 1] == "}" else { throw Failure() }
            return .object(fields)
        case "[":
            at += 1
            var items: [JSONValue] = []
            skipSpace()
            if chars[at] == "]" { at += 1; return .array([]) }
            repeat {
                items.append(try value())
                skipSpace()
                at += 1
            } while chars[at - 1] == ","
            guard chars[at - 1] == "]" else { throw Failure() }
            return .array(items)
        case "\"":
            at += 1
            var s = ""
            while chars[at] != "\"" {
                if chars[at] == "\\" {
                    at += 1
                    switch chars[at] {
                    case "n": s.append("\n")
                    case "t": s.append("\t")
                    case "r": s.append("\r")
                    case "u":
                        s.unicodeScalars.append(Unicode.Scalar(UInt32(String(chars[(at + 1)...(at + 4)]), radix: 16)!)!)
                        at += 4
                    default: s.append(chars[at])
                    }
                } else {
                    s.append(chars[at])
                }
                at += 1
            }
            at += 1
            return .string(s)
        default:
            let start = at
            if chars[at] == "-" { at += 1 }
            while at < chars.count, chars[at].isNumber { at += 1 }
            guard let n = Int(String(chars[start..<at])) else { throw Failure() }
            return .number(n)
        }
    }
}
