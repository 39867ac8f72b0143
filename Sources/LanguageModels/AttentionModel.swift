/// What attention-based reranking (ICR) needs from a decoder: its tokenizer,
/// and how much attention a suffix of a prompt pays to the positions before it.
public protocol AttentionModel: Sendable {
    var identifier: String { get }
    /// Tokens of `text` with no special tokens added, so pieces can be concatenated.
    func tokenize(_ text: String) throws -> [Int]
    /// Tokens that open a prompt (a BOS token, a chat preamble), possibly empty.
    var promptPrefix: [Int] { get }
    var contextLength: Int { get }
    /// For each suffix, the attention every position of `prefix` receives from
    /// the suffix's tokens when the suffix follows the prefix, summed over
    /// layers and heads and averaged over the suffix's tokens. The prefix is
    /// shared, so a backend can run it once and reuse its keys and values.
    func attentionReceived(prefix: [Int], suffixes: [[Int]]) async throws -> [[Float]]
}
