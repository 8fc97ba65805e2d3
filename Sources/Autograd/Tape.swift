import Core
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
/// The reverse-mode tape. Every op result made while gradients are enabled, from at least one
/// input that requires a gradient, carries a `Node`: its inputs and a pullback that maps the
/// result's gradient to the inputs' gradients. `backward()` walks the nodes once in reverse
/// topological order and then drops them, so nothing holds the graph afterwards.

/// One recorded op.
final class Node {
    let op: String
    let inputs: [Tensor]
    /// Gradient of the result -> gradient of each input (`nil` where none is needed).
    /// `needs[i]` says whether input `i` wants one, so a pullback can skip work.
    let pullback: (_ gradOutput: [Float], _ needs: [Bool]) -> [[Float]?]

    init(op: String, inputs: [Tensor], pullback: @escaping ([Float], [Bool]) -> [[Float]?]) {
        self.op = op
        self.inputs = inputs
        self.pullback = pullback
    }
}

/// Whether ops record themselves. Off inside `withoutGrad` (inference, matching, point selection).
public enum GradMode {
    @TaskLocal static var disabled = false
    public static var isEnabled: Bool { !disabled }
}

/// Runs `body` with recording off: results carry no node and hold no inputs alive.
public func withoutGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.$disabled.withValue(true, operation: body)
}

extension Tensor {
    /// Makes an op result, recording a node only when some input requires a gradient and
    /// recording is on.
    static func record(_ op: String, shape: [Int], data: [Float], inputs: [Tensor],
                       pullback: @escaping ([Float], [Bool]) -> [[Float]?]) -> Tensor {
        let tracked = GradMode.isEnabled && inputs.contains(where: { $0.requiresGrad })
        if let phase = OpProfile.phase, phase != .backward, OpProfile.onProfilingThread { OpProfile.mark(op, phase) }
        return Tensor(result: shape, data: data,
                      node: tracked ? Node(op: op, inputs: inputs, pullback: pullback) : nil)
    }

    /// Back-propagates from this scalar (or from `seed`, the gradient of some scalar with
    /// respect to this tensor) into every leaf that requires a gradient.
    public func backward(seed: [Float]? = nil) {
        if seed == nil {
            precondition(data.count == 1, "backward: needs a scalar, got shape \(shape); pass a seed")
        }
        guard requiresGrad else { return }
        let order = topologicalOrder()
        accumulateGrad(seed ?? [1])
        for tensor in order.reversed() {
            guard let node = tensor.node else { continue }
            tensor.node = nil
            guard let g = tensor.grad else { continue }
            if !tensor.isLeaf { tensor.grad = nil }
            let needs = node.inputs.map { $0.requiresGrad }
            let t0 = OpProfile.phase == .backward ? DispatchTime.now().uptimeNanoseconds : 0
            let cpu0 = OpProfile.phase == .backward ? Parallel.poolWorkSeconds : 0
            let grads = node.pullback(g, needs)
            precondition(grads.count == node.inputs.count, "\(node.op): pullback returned \(grads.count) gradients")
            for (input, grad) in zip(node.inputs, grads) where input.requiresGrad {
                guard let grad else { continue }
                precondition(grad.count == input.count,
                             "\(node.op): gradient of \(grad.count) values for input of shape \(input.shape)")
                input.accumulateGrad(grad)
            }
            if OpProfile.phase == .backward {
                OpProfile.add(node.op, .backward, seconds: Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9,
                              cpuSeconds: Parallel.poolWorkSeconds - cpu0)
            }
        }
    }

    /// Post-order of the recorded graph below this tensor (iterative: graphs are deep).
    private func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (tensor, next) = stack.popLast() {
            if let node = tensor.node, next < node.inputs.count {
                stack.append((tensor, next + 1))
                let child = node.inputs[next]
                if child.node != nil, visited.insert(ObjectIdentifier(child)).inserted {
                    stack.append((child, 0))
                }
            } else {
                order.append(tensor)
            }
        }
        return order
    }
}

/// Time by op for benchmarks (`train bench step --breakdown`), for the phase being profiled.
/// Forward, inference (a forward pass without gradients) and the losses after a forward (the
/// matching between them is not profiled): each op is charged the time since the previous op
/// was recorded (its own compute, plus any non-op work just before it — an approximation; ops
/// made on other threads are not counted). Backward: each pullback with the accumulation of its
/// gradients. With the wall time, the work CPU time of this thread and the pool's
/// (`Parallel.poolWorkSeconds`): their ratio is the cores an op keeps busy, and wall x threads
/// minus CPU the core time it leaves idle (what stays serial). Ops are recorded and pulled back
/// on one thread: no lock.
public enum OpProfile {
    public enum Phase: Sendable { case forward, backward, inference, losses }
    /// The phase being profiled; nil when off (or paused). Set `.forward` or `.inference` right
    /// before a forward pass, `.losses` right after the matching.
    nonisolated(unsafe) public static var phase: Phase? = nil {
        didSet { (last, lastCPU, thread) = (DispatchTime.now().uptimeNanoseconds, Parallel.poolWorkSeconds, pthread_self()) }
    }
    /// The thread that set the phase: ops made on other threads at the same time (the matcher's,
    /// one image per thread) are left out rather than raced into the tables.
    nonisolated(unsafe) private static var thread = pthread_self()
    static var onProfilingThread: Bool { pthread_equal(thread, pthread_self()) != 0 }
    nonisolated(unsafe) private static var last: UInt64 = 0
    nonisolated(unsafe) private static var lastCPU = 0.0
    nonisolated(unsafe) private static var tables: [Phase: [String: Entry]] = [:]

    public struct Entry: Sendable {
        public var calls = 0
        public var seconds = 0.0
        /// Work CPU seconds (this thread and the pool's).
        public var cpuSeconds = 0.0

        mutating func add(seconds s: Double, cpuSeconds c: Double) { (calls, seconds, cpuSeconds) = (calls + 1, seconds + s, cpuSeconds + c) }
    }

    /// Charges `op` the time since the previous mark (forward-type phases).
    static func mark(_ op: String, _ phase: Phase) {
        let now = DispatchTime.now().uptimeNanoseconds, cpu = Parallel.poolWorkSeconds
        add(op, phase, seconds: Double(now - last) * 1e-9, cpuSeconds: cpu - lastCPU)
        (last, lastCPU) = (now, cpu)
    }

    static func add(_ op: String, _ phase: Phase, seconds: Double, cpuSeconds: Double) {
        tables[phase, default: [:]][op, default: Entry()].add(seconds: seconds, cpuSeconds: cpuSeconds)
    }

    public static func reset() { tables = [:] }

    /// Every op seen in `phase` since the last reset, the most time first.
    public static func entries(_ phase: Phase) -> [(op: String, entry: Entry)] {
        (tables[phase] ?? [:]).map { ($0.key, $0.value) }.sorted { $0.entry.seconds > $1.entry.seconds }
    }
}
