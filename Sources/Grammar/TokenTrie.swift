/// The vocabulary's byte strings as a trie laid out in preorder: node `i`'s
/// subtree is `i..<subtreeEnd[i]`, so a walk is one pass over flat arrays
/// that jumps over a subtree as soon as the grammar rejects its byte.
/// Built once per tokenizer; immutable and shareable.
public struct TokenTrie: Sendable {
    /// Byte leading into node i (node 0 is the root).
    let byte: [UInt8]
    let parent: [Int32]
    let subtreeEnd: [Int32]
    /// Tokens spelled exactly by the path to node i: `tokenIDs[tokenStart[i]..<tokenStart[i+1]]`.
    let tokenStart: [Int32]
    let tokenIDs: [Int32]
    public let vocabularySize: Int

    public var nodeCount: Int { byte.count }

    /// `tokens[id]` is the bytes token `id` stands for, or nil for tokens
    /// that never match text (special and control tokens).
    public init(tokens: [[UInt8]?]) {
        vocabularySize = tokens.count
        let order = tokens.indices.filter { tokens[$0].map { !$0.isEmpty } ?? false }
            .sorted { tokens[$0]!.lexicographicallyPrecedes(tokens[$1]!) }
        var byte: [UInt8] = [0]
        var parent: [Int32] = [-1]
        var subtreeEnd: [Int32] = [0]
        var nodeTokens: [[Int32]] = [[]]
        // The current path: node ids at each depth.
        var path: [Int32] = [0]
        var previous: [UInt8] = []
        for id in order {
            let bytes = tokens[id]!
            var shared = 0
            while shared < min(bytes.count, previous.count), bytes[shared] == previous[shared] { shared += 1 }
            // Close the nodes below the shared prefix.
            while path.count > shared + 1 {
                let closed = path.removeLast()
                subtreeEnd[Int(closed)] = Int32(byte.count)
            }
            for depth in shared..<bytes.count {
                let n = Int32(byte.count)
                byte.append(bytes[depth])
                parent.append(path.last!)
                subtreeEnd.append(0)
                nodeTokens.append([])
                path.append(n)
            }
            nodeTokens[Int(path.last!)].append(Int32(id))
            previous = bytes
        }
        for n in path { subtreeEnd[Int(n)] = Int32(byte.count) }
        var start: [Int32] = [0]
        var ids: [Int32] = []
        for list in nodeTokens {
            ids += list
            start.append(Int32(ids.count))
        }
        self.byte = byte
        self.parent = parent
        self.subtreeEnd = subtreeEnd
        self.tokenStart = start
        self.tokenIDs = ids
    }
}

/// A grammar applied to a vocabulary during generation: which tokens may
/// come next, and the state after the chosen one. Masks are cached per
/// grammar state, so a state seen before (every character inside a JSON
/// string is one) costs one dictionary lookup. Not thread-safe; one per
/// generation loop (reuse it across generations with the same grammar to
/// keep its caches).
public final class TokenConstraint {
    public let matcher: GrammarMatcher
    public let trie: TokenTrie
    /// Tokens that end generation; allowed only when the grammar accepts.
    public let endOfSequenceIDs: Set<Int>
    /// The state after the tokens accepted so far.
    public private(set) var state: GrammarMatcher.State
    private var masks: [GrammarMatcher.State: [UInt64]] = [:]
    /// Per state, the most bytes any allowed token leaves to write: a budget
    /// at least this large needs no mask of its own.
    private var worstCompletion: [GrammarMatcher.State: Int] = [:]
    private struct BudgetKey: Hashable { var state: GrammarMatcher.State; var slack: Int }
    private var budgetMasks: [BudgetKey: [UInt64]] = [:]
    private var walkStates: [GrammarMatcher.State]
    private var tokenBytes: [[UInt8]?]
    /// The accepted bytes, for error messages.
    private var accepted: [UInt8] = []

    public init(grammar: Grammar, trie: TokenTrie, tokens: [[UInt8]?], endOfSequenceIDs: Set<Int>) {
        matcher = GrammarMatcher(grammar)
        self.trie = trie
        self.endOfSequenceIDs = endOfSequenceIDs
        self.tokenBytes = tokens
        state = matcher.initialState
        walkStates = [GrammarMatcher.State](repeating: 0, count: trie.nodeCount)
    }

    /// Back to the start of the grammar (a new generation), caches kept.
    public func reset() {
        state = matcher.initialState
        accepted.removeAll()
    }

    public var isAccepting: Bool { matcher.isAccepting(state) }
    /// The output is a complete sentence and nothing may follow it.
    public var isComplete: Bool { matcher.isComplete(state) }

    /// Bit `id` set when token `id` may come next (end-of-sequence tokens when the grammar accepts).
    public func allowedTokens() -> [UInt64] {
        if let mask = masks[state] { return mask }
        let mask = walk(from: state)
        masks[state] = mask
        return mask
    }

    public func isAllowed(_ token: Int) -> Bool {
        let mask = allowedTokens()
        return token >= 0 && token / 64 < mask.count && mask[token / 64] & (1 << UInt64(token % 64)) != 0
    }

    /// Sets the logits of disallowed tokens to -infinity. Throws when no
    /// token is allowed (the vocabulary cannot spell what the grammar needs).
    public func mask(_ logits: UnsafeMutableBufferPointer<Float>) throws {
        try apply(allowedTokens(), to: logits)
    }

    /// `mask` for a generation with `remaining` tokens left, this one
    /// included: only tokens after which the output can still be closed in
    /// the tokens left, so a budget never cuts a JSON answer open. The
    /// bound counts one token per byte still needed (every byte is a token
    /// in byte-level and byte-fallback vocabularies), so it is safe and may
    /// rule out a longer token that would have fitted. When no token meets
    /// it (a budget too small for the grammar), the tokens that leave the
    /// least to write are allowed: best effort, never an empty mask.
    public func mask(_ logits: UnsafeMutableBufferPointer<Float>, remaining: Int) throws {
        let plain = allowedTokens()
        let slack = max(0, remaining - 1)
        guard let worst = worstCompletion[state], worst > slack else {
            try apply(plain, to: logits)
            return
        }
        let key = BudgetKey(state: state, slack: slack)
        if let mask = budgetMasks[key] {
            try apply(mask, to: logits)
            return
        }
        var completions: [(token: Int32, bytes: Int)] = []
        walk(from: state) { tokens, reached in
            let c = matcher.minimumCompletion(reached)
            for t in tokens { completions.append((t, c)) }
        }
        let fewest = completions.map(\.bytes).min() ?? GrammarMatcher.unreachable
        var mask = [UInt64](repeating: 0, count: plain.count)
        if matcher.isAccepting(state) {
            for id in endOfSequenceIDs where id < trie.vocabularySize { mask[id >> 6] |= 1 << UInt64(id & 63) }
        }
        // Accepting now means ending fits any budget; otherwise the best effort floor.
        let limit = matcher.isAccepting(state) ? slack : max(slack, fewest)
        for (token, bytes) in completions where bytes <= limit {
            mask[Int(token) >> 6] |= 1 << UInt64(token & 63)
        }
        budgetMasks[key] = mask
        try apply(mask, to: logits)
    }

    public func mask(_ logits: inout [Float], remaining: Int) throws {
        try logits.withUnsafeMutableBufferPointer { try mask($0, remaining: remaining) }
    }

    private func apply(_ mask: [UInt64], to logits: UnsafeMutableBufferPointer<Float>) throws {
        var any = false
        for w in 0..<(logits.count + 63) / 64 {
            let bits = w < mask.count ? mask[w] : 0
            if bits != 0 { any = true }
            if bits == ~0 { continue }
            let end = min(logits.count, (w + 1) * 64)
            for i in w * 64..<end where bits & (1 << UInt64(i - w * 64)) == 0 { logits[i] = -.infinity }
        }
        if !any {
            throw GrammarError.noAllowedToken(source: matcher.grammar.source, text: String(decoding: accepted, as: UTF8.self))
        }
    }

    public func mask(_ logits: inout [Float]) throws {
        try logits.withUnsafeMutableBufferPointer { try mask($0) }
    }

    /// Advances past `token`; false (state unchanged) when the grammar rejects it.
    @discardableResult
    public func accept(_ token: Int) -> Bool {
        if endOfSequenceIDs.contains(token) { return isAccepting }
        guard token >= 0, token < tokenBytes.count, let bytes = tokenBytes[token] else { return false }
        let next = matcher.next(state, bytes: bytes)
        guard next >= 0 else { return false }
        state = next
        accepted += bytes
        return true
    }

    private func walk(from start: GrammarMatcher.State) -> [UInt64] {
        var mask = [UInt64](repeating: 0, count: (trie.vocabularySize + 63) / 64)
        func allow(_ id: Int) { mask[id >> 6] |= 1 << UInt64(id & 63) }
        if matcher.isAccepting(start) {
            for id in endOfSequenceIDs where id < trie.vocabularySize { allow(id) }
        }
        var worst = 0
        walk(from: start) { tokens, reached in
            for id in tokens { allow(Int(id)) }
            worst = max(worst, matcher.minimumCompletion(reached))
        }
        worstCompletion[start] = worst
        return mask
    }

    /// Calls `visit` with the tokens the grammar allows from `start` that
    /// share one trie node, and the state after them.
    private func walk(from start: GrammarMatcher.State,
                      _ visit: (ArraySlice<Int32>, GrammarMatcher.State) -> Void) {
        let count = trie.nodeCount
        trie.byte.withUnsafeBufferPointer { byte in
            trie.parent.withUnsafeBufferPointer { parent in
                trie.subtreeEnd.withUnsafeBufferPointer { subtreeEnd in
                    walkStates.withUnsafeMutableBufferPointer { states in
                        states[0] = start
                        var i = 1
                        while i < count {
                            let next = matcher.next(states[Int(parent[i])], byte[i])
                            if next < 0 {
                                i = Int(subtreeEnd[i])
                                continue
                            }
                            states[i] = next
                            let from = Int(trie.tokenStart[i]), to = Int(trie.tokenStart[i + 1])
                            if from < to { visit(trie.tokenIDs[from..<to], next) }
                            i += 1
                        }
                    }
                }
            }
        }
    }
}
