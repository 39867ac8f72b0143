import Datasets

/// Lucene's BM25 parameters; the defaults are Anserini's.
public struct BM25Parameters: Sendable, Hashable, Codable {
    public var k1: Double
    public var b: Double

    public init(k1: Double = 0.9, b: Double = 0.4) {
        self.k1 = k1
        self.b = b
    }
}

// CONTRACT (the Retrieval helper replaces this placeholder with the real index,
// keeping these signatures so that the CLI can be written against them):
//
//   public struct BM25Index: Sendable {
//       public static func build(documents: [Document], parameters: BM25Parameters = .init(),
//                                progress: (@Sendable (Int, Int) -> Void)? = nil) -> BM25Index
//       public func save(to url: URL) throws            // versioned binary format
//       public static func load(from url: URL) throws -> BM25Index
//       public var documentCount: Int { get }
//       public var parameters: BM25Parameters { get }
//       public func search(_ query: String, topK: Int) -> [ScoredDocument]
//       public func search(_ queries: [Query], topK: Int) async -> Run   // parallel over queries
//   }
