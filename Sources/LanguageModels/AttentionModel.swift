/// What attention-based reranking (ICR) needs from a decoder: its tokenizer,
/// and how much attention a span of positions pays to every position before it.
public protocol AttentionModel: Sendable {
    var identifier: String { get }
    /// Tokens of `text` with no special tokens added, so pieces can be concatenated.
    func tokenize(_ text: String) throws -> [Int]
    /// Tokens that open a prompt (a BOS token, a chat preamble), possibly empty.
    var promptPrefix: [Int] { get }
    var contextLength: Int { get }
    /// For each position of `tokens`, the attention paid to it by the positions
    /// in `queries`, summed over layers and heads and averaged over `queries`.
    /// Under causal attention only earlier positions receive any.
    func attentionReceived(tokens: [Int], from queries: Range<Int>) async throws -> [Float]
}
