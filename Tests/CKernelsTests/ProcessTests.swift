import Testing
import CKernels

/// The process functions outside mpirun, as every plain run and every build without MPI sees
/// them: a group of one whose collectives leave their data as it is. (Under mpirun they are
/// tested by ConvKitTests' ProcessGroupTests, through Tests/MPIProbe.)
@Suite(.enabled(if: ck_mpi_launched() == 0, "these check the group of one; this process was started by mpirun"))
struct ProcessTests {
    @Test func groupOfOne() {
        #expect(ck_mpi_init() == 0)
        #expect(ck_mpi_init() == 0)
        #expect(ck_mpi_rank() == 0)
        #expect(ck_mpi_size() == 1)
        #expect(ck_mpi_barrier() == 0)
        #expect(ck_mpi_sum_work_size(1000) == 0)
    }

    @Test func collectivesLeaveDataAsItIs() {
        #expect(ck_mpi_init() == 0)
        var floats: [Float] = [1.5, -2, .infinity, 0x1p-149]
        var doubles: [Double] = [0.1, -0.2]
        var ints: [Int64] = [3, .min, .max]
        let before = (floats, doubles, ints)
        #expect(ck_mpi_allreduce_sum_floats(&floats, nil, floats.count) == 0)
        #expect(ck_mpi_allreduce_sum_doubles(&doubles, nil, doubles.count) == 0)
        #expect(ck_mpi_allreduce_sum_ints(&ints, nil, ints.count) == 0)
        #expect(ck_mpi_broadcast_floats(&floats, floats.count) == 0)
        var bytes: [UInt8] = [1, 2, 3]
        #expect(ck_mpi_broadcast_bytes(&bytes, bytes.count) == 0)
        #expect(floats.map(\.bitPattern) == before.0.map(\.bitPattern))
        #expect(doubles.map(\.bitPattern) == before.1.map(\.bitPattern))
        #expect(ints == before.2)
        #expect(bytes == [1, 2, 3])
    }

    @Test func errorMessages() {
        func message(_ code: Int32, room: Int) -> String {
            var text = [CChar](repeating: 1, count: 64)
            ck_mpi_error_string(code, &text, room)
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        #expect(message(0, room: 64) == "success")
        #expect(message(-2, room: 8) == "MPI has")  // truncated to the space given, still terminated
    }
}
