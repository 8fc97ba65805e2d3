import CMPI
import Foundation

/// The processes of a data-parallel run and the few collective operations the trainer needs
/// (Detectron2's `comm`, Horovod's core). `SingleProcess` when `train` runs alone; `MPIProcesses`
/// when it was started by Open MPI's `mpirun`. Every rank must make the same calls in the same
/// order (they are collectives); only the trainer uses this.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over the ranks, in place, everywhere.
    func allReduceSum(_ values: inout [Float])
    func allReduceSum(_ values: inout [Double])
    /// Element-wise maximum over the ranks, in place, everywhere.
    func allReduceMax(_ values: inout [Double])
    /// Rank `root`'s bytes, everywhere (other ranks' `data` is replaced).
    func broadcast(_ data: inout Data, root: Int)
    /// Every rank's bytes, in rank order, at rank 0 (nil elsewhere).
    func gatherToMain(_ data: Data) -> [Data]?
    func barrier()
}

extension Communicator {
    public var isMain: Bool { rank == 0 }

    /// Rank `root`'s floats, everywhere.
    public func broadcast(_ values: inout [Float], root: Int) {
        var data = values.withUnsafeBufferPointer { Data(buffer: $0) }
        broadcast(&data, root: root)
        values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// A value rank 0 encodes, decoded everywhere.
    public func broadcast<T: Codable>(_ value: T) throws -> T {
        var data = isMain ? try JSONEncoder().encode(value) : Data()
        broadcast(&data, root: 0)
        return try JSONDecoder().decode(T.self, from: data)
    }
}

/// The communicator of this process: MPI's world when started by `mpirun` (Open MPI sets
/// `OMPI_COMM_WORLD_SIZE`), else a single process. Plain `train` never touches MPI.
public func processCommunicator() -> Communicator {
    guard let size = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"], Int(size) ?? 1 > 1 else { return SingleProcess() }
    return MPIProcesses.world
}

/// Ends a failing process. Under `mpirun` the whole job is aborted (`MPI_Abort`): a process that
/// merely exited would leave the others waiting in their next collective, and MPI_Finalize at
/// exit would wait for them in turn. Alone, a plain exit.
public func exitAfterFailure(_ code: Int32) -> Never {
    if MPIProcesses.isInitialized { uniseg_mpi_abort(code) }
    exit(code)
}

/// One process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ values: inout [Float]) {}
    public func allReduceSum(_ values: inout [Double]) {}
    public func allReduceMax(_ values: inout [Double]) {}
    public func broadcast(_ data: inout Data, root: Int) {}
    public func gatherToMain(_ data: Data) -> [Data]? { [data] }
    public func barrier() {}
}

/// MPI_COMM_WORLD of Open MPI (through the `CMPI` shim). Initialised once, on first use;
/// finalised at exit. A failing collective aborts the whole job (MPI's default).
public final class MPIProcesses: Communicator {
    public static let world = MPIProcesses()
    /// Whether `world` was set up (MPI initialised by this process).
    nonisolated(unsafe) public private(set) static var isInitialized = false
    public let rank: Int
    public let size: Int

    private init() {
        guard uniseg_mpi_init() == 0 else { fatalError("MPI_Init_thread failed") }
        rank = Int(uniseg_mpi_rank())
        size = Int(uniseg_mpi_size())
        Self.isInitialized = true
        atexit { _ = uniseg_mpi_finalize() }
    }

    public func allReduceSum(_ values: inout [Float]) {
        values.withUnsafeMutableBufferPointer { _ = uniseg_mpi_allreduce_float_sum($0.baseAddress, Int64($0.count)) }
    }

    public func allReduceSum(_ values: inout [Double]) {
        values.withUnsafeMutableBufferPointer { _ = uniseg_mpi_allreduce_double($0.baseAddress, Int64($0.count), 0) }
    }

    public func allReduceMax(_ values: inout [Double]) {
        values.withUnsafeMutableBufferPointer { _ = uniseg_mpi_allreduce_double($0.baseAddress, Int64($0.count), 1) }
    }

    public func broadcast(_ data: inout Data, root: Int) {
        var count = [Double(data.count)]
        if rank != root { count[0] = 0 }
        allReduceMax(&count)      // every rank learns the size (others sent 0)
        if rank != root { data = Data(count: Int(count[0])) }
        data.withUnsafeMutableBytes { _ = uniseg_mpi_broadcast($0.baseAddress, Int64($0.count), Int32(root)) }
    }

    public func gatherToMain(_ data: Data) -> [Data]? {
        var sizes = [Int64](repeating: 0, count: isMain ? size : 1)
        _ = sizes.withUnsafeMutableBufferPointer { uniseg_mpi_gather_sizes(Int64(data.count), $0.baseAddress) }
        let counts = sizes.map { Int32($0) }
        var displacements = [Int32](repeating: 0, count: counts.count)
        for i in counts.indices.dropFirst() { displacements[i] = displacements[i - 1] + counts[i - 1] }
        var out = Data(count: isMain ? Int(counts.reduce(0, +)) : 0)
        data.withUnsafeBytes { d in
            out.withUnsafeMutableBytes { o in
                counts.withUnsafeBufferPointer { c in
                    displacements.withUnsafeBufferPointer { p in
                        _ = uniseg_mpi_gather_bytes(d.baseAddress, Int32(data.count), o.baseAddress, c.baseAddress, p.baseAddress)
                    }
                }
            }
        }
        guard isMain else { return nil }
        return counts.indices.map { out.subdata(in: Int(displacements[$0])..<Int(displacements[$0] + counts[$0])) }
    }

    public func barrier() { _ = uniseg_mpi_barrier() }
}
