/// A model that can say how many tokens a text costs it (for `usage` counts).
public protocol TokenCounter: Sendable {
    func countTokens(_ text: String) async throws -> Int
}
