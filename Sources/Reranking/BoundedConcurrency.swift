/// Runs `body` over `0..<count` with at most `limit` calls in flight and
/// returns each call's outcome at its own index, so the caller combines
/// them in input order whatever order they finished in (results, and any
/// floating-point sums over them, then do not depend on the limit).
///
/// Every call runs to its end even when others fail: for reranking over
/// HTTP that means the passages that can be scored are scored (and cached)
/// before a failure is reported. `limit` 1 is the plain sequential loop.
public func boundedOutcomes<T: Sendable>(
    count: Int, limit: Int, _ body: @escaping @Sendable (Int) async throws -> T
) async -> [Result<T, any Error>] {
    precondition(limit >= 1, "limit must be at least 1")
    var outcomes = [Result<T, any Error>?](repeating: nil, count: count)
    if limit == 1 || count <= 1 {
        for i in 0..<count {
            do { outcomes[i] = .success(try await body(i)) } catch { outcomes[i] = .failure(error) }
        }
        return outcomes.map { $0! }
    }
    await withTaskGroup(of: (Int, Result<T, any Error>).self) { group in
        var next = 0
        while next < count {
            if next >= limit, let done = await group.next() { outcomes[done.0] = done.1 }
            let i = next
            next += 1
            group.addTask {
                do { return (i, .success(try await body(i))) } catch { return (i, .failure(error)) }
            }
        }
        while let done = await group.next() { outcomes[done.0] = done.1 }
    }
    return outcomes.map { $0! }
}

/// `boundedOutcomes` for callers that need every value: the first failure
/// by index is thrown once all calls have ended.
public func boundedMap<T: Sendable>(
    count: Int, limit: Int, _ body: @escaping @Sendable (Int) async throws -> T
) async throws -> [T] {
    try await boundedOutcomes(count: count, limit: limit, body).map { try $0.get() }
}
