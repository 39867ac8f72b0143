import Testing
@testable import Synthesis

@Suite struct ModelOutputParserTests {
    @Test func bareObject() throws {
        let answer = try ModelOutputParser.decode(QueryAnswer.self, from: #"{"query": "why does my bread collapse", "instruction": ""}"#).get()
        #expect(answer.query == "why does my bread collapse")
        #expect(answer.instruction == "")
    }

    @Test func fencedWithChatterAndThinking() throws {
        let text = """
        <think>The user wants {"query": "wrong"} maybe.</think>
        Sure! Here it is:
        ```json
        {"query": "the right one", "instruction": "only causes"}
        ```
        Hope this helps {not json}.
        """
        let answer = try ModelOutputParser.decode(QueryAnswer.self, from: text).get()
        #expect(answer.query == "the right one")
        #expect(answer.instruction == "only causes")
    }

    @Test func bracesAndEscapesInsideStrings() throws {
        let text = #"Answer: {"positives": ["a {brace} and a \"quote\" and a \\ backslash", "second }"]} done"#
        let answer = try ModelOutputParser.decode(PositivesAnswer.self, from: text).get()
        #expect(answer.positives == [#"a {brace} and a "quote" and a \ backslash"#, "second }"])
    }

    @Test func skipsObjectsOfTheWrongShape() throws {
        let text = #"First {"note": "x"} then {"relevant": false, "reason": "off topic"}"#
        let answer = try ModelOutputParser.decode(JudgeAnswer.self, from: text).get()
        #expect(answer.relevant == false)
        #expect(answer.reason == "off topic")
    }

    @Test func judgeAcceptsStringVerdicts() throws {
        #expect(try ModelOutputParser.decode(JudgeAnswer.self, from: #"{"relevant": "Yes"}"#).get().relevant)
        #expect(try !ModelOutputParser.decode(JudgeAnswer.self, from: #"{"relevant": "no"}"#).get().relevant)
        guard case .failure(let f) = ModelOutputParser.decode(JudgeAnswer.self, from: #"{"relevant": "maybe"}"#) else {
            Issue.record("\"maybe\" must not parse"); return
        }
        #expect(f.reason.contains("relevant"))
    }

    @Test func failuresSayWhy() {
        func reason(_ text: String) -> String {
            if case .failure(let f) = ModelOutputParser.decode(QueryAnswer.self, from: text) { return f.reason }
            return "parsed"
        }
        #expect(reason("Sure, happy to help!") == "no JSON object in the answer")
        #expect(reason(#"{"query": "cut off"#) == "the JSON object is cut off (unbalanced braces)")
        #expect(reason(#"{"answer": "x"}"#) == "missing key \"query\"")
        #expect(reason(#"{"query": 3}"#) == "key \"query\" has the wrong type")
    }

    @Test func openTraceFromAssistantPrefix() throws {
        // The prompt's prefix opened <think>; the answer closes it, then the JSON.
        let answer = try ModelOutputParser.decode(TraceAnswer.self, from: #"I consider {x}.</think>{"reasoning": "because"}"#).get()
        #expect(answer.reasoning == "because")
    }
}
