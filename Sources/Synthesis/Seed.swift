import Randomness
import Datasets
import Foundation
import Models

/// Who asks.
public struct Persona: Sendable, Hashable, Codable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What about. Everyday-life and expert domains are kept apart so a run
/// covers both kinds of need.
public struct Domain: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable { case everyday, expert }
    public var name: String
    public var kind: Kind
    public init(_ name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

/// The seed of one item: a persona asking about a domain, and whether its
/// query carries a FollowIR-style instruction.
public struct Seed: Sendable, Hashable, Codable {
    public var persona: String
    public var domain: String
    public var domainKind: Domain.Kind
    public var wantsInstruction: Bool

    public init(persona: String, domain: String, domainKind: Domain.Kind, wantsInstruction: Bool) {
        self.persona = persona
        self.domain = domain
        self.domainKind = domainKind
        self.wantsInstruction = wantsInstruction
    }
}

/// The personas and domains a run draws from.
public struct SeedSet: Sendable, Hashable {
    public var personas: [Persona]
    public var domains: [Domain]

    public init(personas: [Persona], domains: [Domain]) throws {
        guard !personas.isEmpty else { throw SynthesisError.invalidParameter(name: "seeds", reason: "no personas") }
        guard !domains.isEmpty else { throw SynthesisError.invalidParameter(name: "seeds", reason: "no domains") }
        self.personas = personas
        self.domains = domains
    }

    public static var builtIn: SeedSet {
        // Non-empty by construction; the tests check the sizes.
        SeedSet(unchecked: BuiltInSeeds.personas.map(Persona.init), domains: BuiltInSeeds.everyday.map { Domain($0, kind: .everyday) } + BuiltInSeeds.expert.map { Domain($0, kind: .expert) })
    }

    private init(unchecked personas: [Persona], domains: [Domain]) {
        self.personas = personas
        self.domains = domains
    }

    /// The seed of item `index`: domains go round-robin in an order shuffled
    /// by the run seed (so every domain is used before any is repeated), the
    /// persona is drawn from the item's own generator.
    public func seed(forItem index: Int, runSeed: UInt64, instructionRate: Double, rng: inout SplitMix64) -> Seed {
        var order = Array(domains.indices)
        var shuffler = SplitMix64(seed: runSeed ^ 0x5EED_D0_3A1)
        order.shuffle(using: &shuffler)
        let domain = domains[order[index % domains.count]]
        let persona = personas[Int(rng.next() % UInt64(personas.count))]
        let wantsInstruction = rng.nextUnit() < instructionRate
        return Seed(persona: persona.description, domain: domain.name, domainKind: domain.kind, wantsInstruction: wantsInstruction)
    }

    /// Reads personas (one per line) from a text file. Blank lines and lines
    /// starting with `#` are skipped.
    public static func readPersonas(_ url: URL) throws -> [Persona] {
        try readLines(url).map { Persona($0.text) }
    }

    /// Reads domains, one per line, each `everyday: NAME` or `expert: NAME`.
    public static func readDomains(_ url: URL) throws -> [Domain] {
        try readLines(url).map { line in
            guard let colon = line.text.firstIndex(of: ":"),
                  let kind = Domain.Kind(rawValue: line.text[..<colon].trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw SynthesisError.invalidSeeds(file: url.path, line: line.number, reason: "expected \"everyday: NAME\" or \"expert: NAME\"")
            }
            let name = line.text[line.text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw SynthesisError.invalidSeeds(file: url.path, line: line.number, reason: "empty domain name") }
            return Domain(name, kind: kind)
        }
    }

    private static func readLines(_ url: URL) throws -> [(number: Int, text: String)] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw SynthesisError.invalidSeeds(file: url.path, line: 0, reason: "cannot read: \(error.localizedDescription)")
        }
        var out: [(Int, String)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            out.append((i + 1, line))
        }
        if out.isEmpty { throw SynthesisError.invalidSeeds(file: url.path, line: 0, reason: "no entries") }
        return out
    }
}
