/// Runs a `Grammar` over bytes as a pushdown automaton whose configurations
/// are interned, so it turns lazily into a DFA over the configurations seen.
///
/// A configuration is the set of possible parse stacks (llama.cpp's
/// "stacks"). A stack is a linked list of nodes, (position of the next
/// element, parent node), hash-consed so equal stacks are one id; its top
/// always points at a byte set, and the empty stack (`acceptID`) means the
/// root rule is complete. A call in tail position pushes no return node, so
/// right-recursive repetitions (`x*`) come back to the same configuration
/// and a JSON string's characters all land in one state.
///
/// States are small integers; `next(state, byte)` is memoised in a table of
/// 256 entries per state, so walking a token trie against a state that has
/// been seen before costs one array read per trie node. Not thread-safe:
/// one matcher per generation (or per thread).
public final class GrammarMatcher {
    public let grammar: Grammar
    public typealias State = Int32
    /// `next` returns this when no parse survives the byte.
    public static let dead: State = -1
    static let unknown: State = -2
    static let acceptID: Int32 = -1

    // Hash-consed stack nodes.
    private var nodePosition: [Int32] = []
    private var nodeParent: [Int32] = []
    private var nodeIDs: [Int64: Int32] = [:]

    // Interned configurations: sorted node ids (acceptID first when present).
    private var stateNodes: [[Int32]] = []
    private var stateIDs: [[Int32]: State] = [:]
    private var transitions: [State] = []
    private var accepting: [Bool] = []

    /// The configuration before any byte.
    public private(set) var initialState: State = 0
    private var scratch: [Int32] = []

    /// Fewest bytes from each element position to the end of its alternative.
    private let restLength: [Int]
    /// Fewest bytes that complete each stack node, memoised (-1: not yet known).
    private var nodeCompletion: [Int] = []
    private var stateCompletion: [Int] = []
    /// What `minimumCompletion` answers for a state that can never accept.
    public static let unreachable = Int.max / 4

    public init(_ grammar: Grammar) {
        self.grammar = grammar
        restLength = Self.restLengths(grammar)
        var start: [Int32] = []
        for alternative in grammar.alternatives[Int(grammar.root)] {
            expand(alternative, parent: Self.acceptID, into: &start)
        }
        initialState = intern(&start)
    }

    public var stateCount: Int { stateNodes.count }

    /// Whether the text so far is a complete sentence of the grammar.
    public func isAccepting(_ state: State) -> Bool { state >= 0 && accepting[Int(state)] }

    /// Complete, and no byte can follow: generation should stop here.
    public func isComplete(_ state: State) -> Bool {
        state >= 0 && stateNodes[Int(state)] == [Self.acceptID]
    }

    /// The fewest bytes after which `state` accepts (0 when it accepts now;
    /// `unreachable` for the dead state). Exact, not a search: every stack
    /// in the configuration completes by finishing its own alternative, then
    /// each caller's, so the answer is the cheapest stack's sum of the
    /// grammar's shortest derivations. Lets a decoder with a token budget
    /// pick only tokens after which the output can still be closed in time.
    public func minimumCompletion(_ state: State) -> Int {
        guard state >= 0 else { return Self.unreachable }
        let index = Int(state)
        if stateCompletion[index] >= 0 { return stateCompletion[index] }
        var best = Self.unreachable
        for top in stateNodes[index] { best = min(best, completion(ofNode: top)) }
        stateCompletion[index] = best
        return best
    }

    private func completion(ofNode node: Int32) -> Int {
        // Parents are interned before their children, so the chain is walked
        // iteratively from the first node whose completion is known.
        var chain: [Int32] = []
        var n = node
        while n != Self.acceptID, nodeCompletion[Int(n)] < 0 {
            chain.append(n)
            n = nodeParent[Int(n)]
        }
        var total = n == Self.acceptID ? 0 : nodeCompletion[Int(n)]
        for m in chain.reversed() {
            total = min(Self.unreachable, total + restLength[Int(nodePosition[Int(m)])])
            nodeCompletion[Int(m)] = total
        }
        return total
    }

    /// Shortest derivation lengths by fixpoint: a rule's is its cheapest
    /// alternative's, an alternative's the sum of its elements' (a byte set
    /// counts one). Recursive rules settle after at most one pass per rule.
    private static func restLengths(_ grammar: Grammar) -> [Int] {
        var rule = [Int](repeating: unreachable, count: grammar.alternatives.count)
        var rest = [Int](repeating: unreachable, count: grammar.elements.count)
        var changed = true
        while changed {
            changed = false
            var p = grammar.elements.count - 1
            while p >= 0 {
                switch grammar.elements[p] {
                case .end: rest[p] = 0
                case .bytes: rest[p] = min(unreachable, 1 + rest[p + 1])
                case .rule(let callee): rest[p] = min(unreachable, rule[Int(callee)] + rest[p + 1])
                }
                p -= 1
            }
            for r in rule.indices {
                let shortest = grammar.alternatives[r].map { rest[Int($0)] }.min() ?? unreachable
                if shortest < rule[r] {
                    rule[r] = shortest
                    changed = true
                }
            }
        }
        return rest
    }

    @inline(__always)
    public func next(_ state: State, _ byte: UInt8) -> State {
        let slot = Int(state) &* 256 &+ Int(byte)
        let cached = transitions[slot]
        if cached != Self.unknown { return cached }
        let computed = advance(state, byte)
        transitions[slot] = computed
        return computed
    }

    public func next(_ state: State, bytes: some Sequence<UInt8>) -> State {
        var s = state
        for b in bytes {
            guard s >= 0 else { return Self.dead }
            s = next(s, b)
        }
        return s
    }

    /// Whether `text` is a prefix of some sentence (`complete`: a whole sentence).
    public func matches(_ text: String, complete: Bool = true) -> Bool {
        let s = next(initialState, bytes: text.utf8)
        return complete ? isAccepting(s) : s >= 0
    }

    // MARK: construction

    private func node(_ position: Int32, _ parent: Int32) -> Int32 {
        let key = Int64(position) << 32 | Int64(UInt32(bitPattern: parent))
        if let id = nodeIDs[key] { return id }
        let id = Int32(nodePosition.count)
        nodePosition.append(position)
        nodeParent.append(parent)
        nodeCompletion.append(-1)
        nodeIDs[key] = id
        return id
    }

    /// All stacks reachable from "at `position`, then return to `parent`"
    /// without consuming a byte, appended to `out` (tops at byte sets, or acceptID).
    private func expand(_ position: Int32, parent: Int32, into out: inout [Int32]) {
        switch grammar.elements[Int(position)] {
        case .bytes:
            out.append(node(position, parent))
        case .end:
            if parent == Self.acceptID {
                out.append(Self.acceptID)
            } else {
                expand(nodePosition[Int(parent)], parent: nodeParent[Int(parent)], into: &out)
            }
        case .rule(let callee):
            let after = position + 1
            let returnTo: Int32
            if case .end = grammar.elements[Int(after)] { returnTo = parent } else { returnTo = node(after, parent) }
            for alternative in grammar.alternatives[Int(callee)] {
                expand(alternative, parent: returnTo, into: &out)
            }
        }
    }

    private func advance(_ state: State, _ byte: UInt8) -> State {
        scratch.removeAll(keepingCapacity: true)
        for top in stateNodes[Int(state)] where top != Self.acceptID {
            let position = nodePosition[Int(top)]
            guard case .bytes(let set) = grammar.elements[Int(position)], grammar.byteSets[Int(set)].contains(byte) else { continue }
            expand(position + 1, parent: nodeParent[Int(top)], into: &scratch)
        }
        if scratch.isEmpty { return Self.dead }
        return intern(&scratch)
    }

    private func intern(_ nodes: inout [Int32]) -> State {
        nodes.sort()
        var unique: [Int32] = []
        unique.reserveCapacity(nodes.count)
        for n in nodes where unique.last != n { unique.append(n) }
        if let id = stateIDs[unique] { return id }
        let id = State(stateNodes.count)
        stateNodes.append(unique)
        stateIDs[unique] = id
        accepting.append(unique.first == Self.acceptID)
        stateCompletion.append(-1)
        transitions.append(contentsOf: repeatElement(Self.unknown, count: 256))
        return id
    }
}
