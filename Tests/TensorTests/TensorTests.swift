import Testing
@testable import Tensor

@Test func stridesAreRowMajor() {
    let t = Tensor(zeros: [2, 3, 4])
    #expect(t.strides == [12, 4, 1])
    #expect(t.count == 24)
}
