import Testing
@testable import Tensor

@Test func stridesAreRowMajor() {
    let t = Tensor(zeros: [2, 3, 4])
    #expect(t.strides == [12, 4, 1])
    #expect(t.count == 24)
}

@Test func rowsGatherConcatAndTranspose() {
    let t = Tensor(shape: [3, 2], data: [1, 2, 3, 4, 5, 6])
    #expect(t.rows(1..<3).data == [3, 4, 5, 6])
    #expect(t.row(2).shape == [2])
    #expect(t.gatherRows([2, 0]).data == [5, 6, 1, 2])
    #expect(Tensor.concat(rows: [t.rows(0..<1), t.rows(2..<3)]).data == [1, 2, 5, 6])
    #expect(t.transposed2D().data == [1, 3, 5, 2, 4, 6])
    let s = Tensor(shape: [2, 3, 1], data: [1, 2, 3, 4, 5, 6]).swappingFirstTwoAxes()
    #expect(s.shape == [3, 2, 1] && s.data == [1, 4, 2, 5, 3, 6])
}

@Test func broadcastingMatchesNumpyRules() {
    let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
    let row = Tensor(shape: [3], data: [10, 20, 30])
    let col = Tensor(shape: [2, 1], data: [100, 200])
    #expect((a + row).data == [11, 22, 33, 14, 25, 36])
    #expect((a * col).data == [100, 200, 300, 800, 1000, 1200])
    #expect((col - row).shape == [2, 3])
    #expect((col - row).data == [90, 80, 70, 190, 180, 170])
    #expect(Tensor.broadcastShape([2, 3], [4]) == nil)
}
