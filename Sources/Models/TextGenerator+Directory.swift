import Foundation
import Tokenizers

extension TextGenerator {
    /// A Hugging Face checkpoint directory (config.json, model.safetensors,
    /// tokenizer.json): how LimRank and Rank1 checkpoints ship. The chat
    /// template is the one tokenizer_config.json names when it is recognised,
    /// else ChatML; a raw-prompt model (LimRank) never uses it.
    public init(directory url: URL) throws {
        let entry = try ModelRegistry.entry(at: url)
        guard entry.family == .decoder, let model = try entry.load(url) as? LlamaModel else {
            throw ModelsError.invalidInput("\(url.path) is not a decoder checkpoint")
        }
        let tokenizer = try Tokenizer(directory: url)
        var template = ChatTemplate.chatML
        struct Config: Decodable { var chat_template: String? }
        if let data = FileManager.default.contents(atPath: url.appendingPathComponent("tokenizer_config.json").path),
           let jinja = (try? JSONDecoder().decode(Config.self, from: data))?.chat_template,
           let recognised = ChatTemplate.recognising(jinja) {
            template = recognised
        }
        // Gemma prompts start with BOS (tokenizer_config's add_bos_token) and
        // use Gemma's turns; the other architectures keep running prompts as they are.
        var bos: Int?
        if model.options.architecture == "gemma3" {
            struct BOSConfig: Decodable { var add_bos_token: Bool? }
            let data = FileManager.default.contents(atPath: url.appendingPathComponent("tokenizer_config.json").path)
            let adds = data.flatMap { try? JSONDecoder().decode(BOSConfig.self, from: $0) }?.add_bos_token ?? true
            bos = adds ? model.configuration.bosTokenId : nil
            if template == .chatML { template = .gemma }
        }
        var eos = Set(model.configuration.eosTokenIds)
        if let end = tokenizer.tokenID(for: template.endToken) { eos.insert(end) }
        self.init(model: model, tokenizer: tokenizer, chatTemplate: template, endOfSequenceIDs: eos,
                  identifier: url.standardizedFileURL.lastPathComponent, beginningOfSequenceID: bos)
    }
}
