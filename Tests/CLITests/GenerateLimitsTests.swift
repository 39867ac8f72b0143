import ArgumentParser
import Foundation
import Testing
import TestSupport
@testable import LimRankCLI

/// `limrank generate` refuses a run that cannot fit before generating
/// anything, and says which limit it hit.
struct GenerateLimitsTests {
    @Test(.enabled(if: Assets.enabled(Assets.smollm2GGUF)))
    func maxTokensPastTheContextIsRefusedUpFront() throws {
        // SmolLM2's context is 8192 positions (llama.context_length).
        let command = try GenerateCommand.parse(["--model", Assets.smollm2GGUF.path, "--prompt", "The capital of France is",
                                                 "--max-tokens", "9000", "--temperature", "0"])
        do {
            try command.run()
            Issue.record("--max-tokens 9000 on an 8192-token context must be refused")
        } catch let error as ValidationError {
            let message = String(describing: error)
            #expect(message.contains("plus max tokens 9000"), "\(message)")
            #expect(message.contains("past the model's context of 8192"), "\(message)")
        }
    }
}
