#if CONVKIT_JPEG
import CTurboJPEG
#endif

/// JPEG (ISO/IEC 10918-1) through libjpeg-turbo's TurboJPEG API, when the package was built with
/// it (`RasterImage.readsJPEG`; Package.swift finds it). Baseline and progressive, 8-bit, grey
/// (one channel) or YCbCr/RGB (three); CMYK and YCCK are refused rather than converted, since no
/// network input ConvKit trains is ink. EXIF orientation is not applied: pixels as stored.
///
/// Strict where libjpeg is lenient: libjpeg treats a file that ends early, or stray bytes in the
/// entropy-coded data, as a warning, fills what is missing with grey and carries on. Here every
/// warning is an error (decoding stops at the first), so a file cut in half is `.truncated`, never
/// a half-grey image. JPEG has no checksum, though: bytes changed inside the compressed data may
/// still decode, into wrong pixels, without any warning.
enum JPEG {
    /// SOI and the first byte of the next marker.
    static let signature: [UInt8] = [0xFF, 0xD8, 0xFF]

    #if CONVKIT_JPEG
    static let available = true
    #else
    static let available = false
    #endif

    /// Width, height, channels (1 grey, 3 RGB) and the samples, interleaved row by row. The header
    /// is read first and an image of more than `maxPixels` is refused before its pixels are
    /// allocated.
    static func decodeSamples(_ bytes: [UInt8], file: String, maxPixels: Int) throws(ImageError) -> (Int, Int, Int, [UInt8]) {
        #if CONVKIT_JPEG
        guard let handle = tjInitDecompress() else {
            throw .unreadable(file, reason: "cannot start the JPEG decoder: \(String(cString: tjGetErrorStr2(nil)))")
        }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colourspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &width, &height, &subsampling, &colourspace)
        }
        if header != 0 { throw failure(handle, file) }
        // A stream that ends (or holds only tables) before its frame header "succeeds" with no size.
        guard width > 0, height > 0 else { throw noFrame(handle, file) }
        let (w, h) = (Int(width), Int(height))
        guard w <= maxPixels, w * h <= maxPixels else {
            throw .malformed(file, reason: "JPEG size \(w)×\(h) is too large (at most \(maxPixels) pixels)")
        }
        let channels: Int, format: TJPF
        switch UInt32(bitPattern: colourspace) {
        case TJCS_GRAY.rawValue: (channels, format) = (1, TJPF_GRAY)
        case TJCS_YCbCr.rawValue, TJCS_RGB.rawValue: (channels, format) = (3, TJPF_RGB)
        case TJCS_CMYK.rawValue: throw .unsupportedJPEGColourspace(file, colourspace: "CMYK")
        case TJCS_YCCK.rawValue: throw .unsupportedJPEGColourspace(file, colourspace: "YCCK")
        default: throw .unsupportedJPEGColourspace(file, colourspace: "number \(colourspace)")
        }
        // STOPONWARNING: see the type's comment. LIMITSCANS: a progressive file of thousands of
        // tiny scans would otherwise take minutes over a small image.
        let flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS | TJFLAG_ACCURATEDCT
        var samples = [UInt8](repeating: 0, count: channels * w * h)
        let status = bytes.withUnsafeBufferPointer { src in
            samples.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress, width, 0, height, Int32(format.rawValue), flags)
            }
        }
        if status != 0 { throw failure(handle, file) }
        return (w, h, channels, samples)
        #else
        throw .noJPEGSupport(file)
        #endif
    }

    #if CONVKIT_JPEG
    /// The decoder's last message as an error. libjpeg says "Premature end of JPEG file" (a warning)
    /// or "... of input file" when the data runs out; its error codes do not tell the two kinds
    /// apart reliably, so the message does.
    private static func failure(_ handle: tjhandle, _ file: String) -> ImageError {
        let message = String(cString: tjGetErrorStr2(handle))
        if message.contains("Premature end") { return .truncated(file, what: "JPEG data ends early: \(message)") }
        return .malformed(file, reason: "JPEG: \(message)")
    }

    private static func noFrame(_ handle: tjhandle, _ file: String) -> ImageError {
        let message = String(cString: tjGetErrorStr2(handle))
        if message.contains("Premature end") { return .truncated(file, what: "JPEG data ends before its frame header") }
        return .malformed(file, reason: "JPEG has no image (no frame header)")
    }
    #endif
}
