import Testing
import ConvKit
import CKernels

@Suite("The FMA peak's flop counts")
struct PeakCountTests {
    // The bench divides these counts by the time taken: a wrong lane, chain or thread count
    // would misstate every row's share of peak, and the 16-lane peak's comparison with it.
    @Test("the kernels' and 16-lane peaks count 2 flops per lane per chain per iteration on each thread")
    func counts() {
        let lanes = Double(ck_simd_lanes())
        #expect(lanes == 8 || lanes == 16)
        #expect(ck_peak_fma(1, 1000) == 2 * lanes * 12 * 1000)
        #expect(ck_peak_fma_16(1, 1000) == 2 * 16 * 12 * 1000)
        let team = Kernels.openMP ? 2.0 : 1.0
        #expect(ck_peak_fma(2, 10) == 2 * lanes * 12 * 10 * team)
        #expect(ck_peak_fma_16(2, 10) == 2 * 16 * 12 * 10 * team)
    }
}
