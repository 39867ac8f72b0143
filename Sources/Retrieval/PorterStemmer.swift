/// The Porter (1980) suffix-stripping stemmer, with the behaviour of Lucene's
/// `PorterStemmer` (itself a port of Martin Porter's reference C/Java code).
///
/// That reference code departs from the 1980 paper in three places, and so
/// does this one, because Lucene/Anserini indexes are what we match:
/// - words of one or two characters are left alone;
/// - step 2 rewrites `-bli` to `-ble` (the paper: `-abli` to `-able`);
/// - step 2 rewrites `-logi` to `-log` (not in the paper).
///
/// Input is expected in lower case. Only the ASCII letters a e i o u y count
/// as vowels; every other code unit (digits, accented letters) is a consonant,
/// exactly as in Lucene, which works on UTF-16 code units.
public enum PorterStemmer {
    /// Stems one lower-cased word.
    public static func stem(_ word: String) -> String {
        var units = Array(word.utf16)
        let length = stem(&units)
        return String(decoding: units[0..<length], as: UTF16.self)
    }

    /// Stems the UTF-16 code units in place and returns the stem's length
    /// (a prefix of `units`, possibly with rewritten letters).
    public static func stem(_ units: inout [UInt16]) -> Int {
        guard units.count > 2 else { return units.count }
        // Swap the buffer in and out rather than copying it: no allocation per word.
        var word = PorterWord(units: [])
        swap(&word.b, &units)
        word.k = word.b.count - 1
        word.run()
        swap(&word.b, &units)
        return word.k + 1
    }
}

/// The stemmer's working state: `b[0...k]` is the word being reduced and `j`
/// marks the end of the stem before a matched suffix.
private struct PorterWord {
    var b: [UInt16]
    var k: Int
    var j: Int = 0

    init(units: [UInt16]) {
        b = units
        k = units.count - 1
    }

    mutating func run() {
        step1ab()
        step1c()
        step2()
        step3()
        step4()
        step5()
    }

    // MARK: - Predicates

    @inline(__always) func isConsonant(_ i: Int) -> Bool {
        switch b[i] {
        case a_, e_, i_, o_, u_: return false
        case y_: return i == 0 ? true : !isConsonant(i - 1)
        default: return true
        }
    }

    /// The measure m of `b[0...j]`: the number of vowel-consonant sequences.
    func measure() -> Int {
        var n = 0
        var i = 0
        while true {
            if i > j { return n }
            if !isConsonant(i) { break }
            i += 1
        }
        i += 1
        while true {
            while true {
                if i > j { return n }
                if isConsonant(i) { break }
                i += 1
            }
            i += 1
            n += 1
            while true {
                if i > j { return n }
                if !isConsonant(i) { break }
                i += 1
            }
            i += 1
        }
    }

    func vowelInStem() -> Bool {
        var i = 0
        while i <= j {
            if !isConsonant(i) { return true }
            i += 1
        }
        return false
    }

    func doubleConsonant(_ i: Int) -> Bool {
        i >= 1 && b[i] == b[i - 1] && isConsonant(i)
    }

    /// consonant-vowel-consonant ending at `i`, the last not w, x or y
    /// (restores the e of hop(e), crim(e); not of snow, box, tray).
    func cvc(_ i: Int) -> Bool {
        if i < 2 || !isConsonant(i) || isConsonant(i - 1) || !isConsonant(i - 2) { return false }
        let c = b[i]
        return c != w_ && c != x_ && c != y_
    }

    /// Whether `b[0...k]` ends with `suffix`; if so sets `j` before it.
    mutating func ends(_ suffix: StaticString) -> Bool {
        let n = suffix.utf8CodeUnitCount
        let o = k - n + 1
        if o < 0 { return false }
        let p = suffix.utf8Start
        for i in 0..<n where b[o + i] != UInt16(p[i]) { return false }
        j = k - n
        return true
    }

    /// Replaces `b[j+1...k]` with `s`.
    mutating func setTo(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        let p = s.utf8Start
        let needed = j + 1 + n
        if needed > b.count { b.append(contentsOf: repeatElement(0, count: needed - b.count)) }
        for i in 0..<n { b[j + 1 + i] = UInt16(p[i]) }
        k = j + n
    }

    mutating func replaceIfMeasured(_ s: StaticString) {
        if measure() > 0 { setTo(s) }
    }

    // MARK: - Steps (numbered as in Lucene's code: 1 = paper's 1a+1b)

    /// Plurals and -ed / -ing: caresses -> caress, ponies -> poni,
    /// agreed -> agree, matting -> mat, mating -> mate.
    mutating func step1ab() {
        if b[k] == s_ {
            if ends("sses") {
                k -= 2
            } else if ends("ies") {
                setTo("i")
            } else if b[k - 1] != s_ {
                k -= 1
            }
        }
        if ends("eed") {
            if measure() > 0 { k -= 1 }
        } else if (ends("ed") || ends("ing")) && vowelInStem() {
            k = j
            if ends("at") {
                setTo("ate")
            } else if ends("bl") {
                setTo("ble")
            } else if ends("iz") {
                setTo("ize")
            } else if doubleConsonant(k) {
                let c = b[k]
                if c != l_ && c != s_ && c != z_ { k -= 1 }
            } else if measure() == 1 && cvc(k) {
                setTo("e")
            }
        }
    }

    /// Terminal y to i when the stem has a vowel.
    mutating func step1c() {
        if ends("y") && vowelInStem() { b[k] = i_ }
    }

    /// Double suffixes to single ones: -ization -> -ize, -ational -> -ate.
    mutating func step2() {
        if k == 0 { return }
        switch b[k - 1] {
        case a_:
            if ends("ational") { replaceIfMeasured("ate"); return }
            if ends("tional") { replaceIfMeasured("tion"); return }
        case c_:
            if ends("enci") { replaceIfMeasured("ence"); return }
            if ends("anci") { replaceIfMeasured("ance"); return }
        case e_:
            if ends("izer") { replaceIfMeasured("ize"); return }
        case l_:
            if ends("bli") { replaceIfMeasured("ble"); return }
            if ends("alli") { replaceIfMeasured("al"); return }
            if ends("entli") { replaceIfMeasured("ent"); return }
            if ends("eli") { replaceIfMeasured("e"); return }
            if ends("ousli") { replaceIfMeasured("ous"); return }
        case o_:
            if ends("ization") { replaceIfMeasured("ize"); return }
            if ends("ation") { replaceIfMeasured("ate"); return }
            if ends("ator") { replaceIfMeasured("ate"); return }
        case s_:
            if ends("alism") { replaceIfMeasured("al"); return }
            if ends("iveness") { replaceIfMeasured("ive"); return }
            if ends("fulness") { replaceIfMeasured("ful"); return }
            if ends("ousness") { replaceIfMeasured("ous"); return }
        case t_:
            if ends("aliti") { replaceIfMeasured("al"); return }
            if ends("iviti") { replaceIfMeasured("ive"); return }
            if ends("biliti") { replaceIfMeasured("ble"); return }
        case g_:
            if ends("logi") { replaceIfMeasured("log"); return }
        default:
            return
        }
    }

    /// -ic-, -full, -ness and friends.
    mutating func step3() {
        switch b[k] {
        case e_:
            if ends("icate") { replaceIfMeasured("ic"); return }
            if ends("ative") { replaceIfMeasured(""); return }
            if ends("alize") { replaceIfMeasured("al"); return }
        case i_:
            if ends("iciti") { replaceIfMeasured("ic"); return }
        case l_:
            if ends("ical") { replaceIfMeasured("ic"); return }
            if ends("ful") { replaceIfMeasured(""); return }
        case s_:
            if ends("ness") { replaceIfMeasured(""); return }
        default:
            return
        }
    }

    /// -ant, -ence etc. in context <c>vcvc<v>.
    mutating func step4() {
        if k == 0 { return }
        var matched = false
        switch b[k - 1] {
        case a_: matched = ends("al")
        case c_: matched = ends("ance") || ends("ence")
        case e_: matched = ends("er")
        case i_: matched = ends("ic")
        case l_: matched = ends("able") || ends("ible")
        case n_:
            // "ement" before "ment" before "ent", so element keeps its m.
            matched = ends("ant") || ends("ement") || ends("ment") || ends("ent")
        case o_:
            if ends("ion") && j >= 0 && (b[j] == s_ || b[j] == t_) {
                matched = true
            } else {
                matched = ends("ou")
            }
        case s_: matched = ends("ism")
        case t_: matched = ends("ate") || ends("iti")
        case u_: matched = ends("ous")
        case v_: matched = ends("ive")
        case z_: matched = ends("ize")
        default: matched = false
        }
        if matched && measure() > 1 { k = j }
    }

    /// Final -e when m > 1 (or m = 1 and not *o), and -ll to -l when m > 1.
    mutating func step5() {
        j = k
        if b[k] == e_ {
            let m = measure()
            if m > 1 || (m == 1 && !cvc(k - 1)) { k -= 1 }
        }
        if b[k] == l_ && doubleConsonant(k) && measure() > 1 { k -= 1 }
    }
}

private let a_ = UInt16(UInt8(ascii: "a"))
private let c_ = UInt16(UInt8(ascii: "c"))
private let e_ = UInt16(UInt8(ascii: "e"))
private let g_ = UInt16(UInt8(ascii: "g"))
private let i_ = UInt16(UInt8(ascii: "i"))
private let l_ = UInt16(UInt8(ascii: "l"))
private let n_ = UInt16(UInt8(ascii: "n"))
private let o_ = UInt16(UInt8(ascii: "o"))
private let s_ = UInt16(UInt8(ascii: "s"))
private let t_ = UInt16(UInt8(ascii: "t"))
private let u_ = UInt16(UInt8(ascii: "u"))
private let v_ = UInt16(UInt8(ascii: "v"))
private let w_ = UInt16(UInt8(ascii: "w"))
private let x_ = UInt16(UInt8(ascii: "x"))
private let y_ = UInt16(UInt8(ascii: "y"))
private let z_ = UInt16(UInt8(ascii: "z"))
