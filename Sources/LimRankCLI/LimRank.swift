import ArgumentParser

@main
struct LimRank: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limrank",
        abstract: "Neural document reranking: BM25 retrieval, LLM reranking, evaluation.",
        subcommands: [IndexCommand.self, RetrieveCommand.self, EvalCommand.self, RerankCommand.self, GenerateCommand.self, ModelsCommand.self, EmbedCommand.self, BenchCommand.self, ServeCommand.self, Synthesize.self, TrainCommand.self, CompareCommand.self, TeacherCommand.self, TuneCommand.self]
    )
}
