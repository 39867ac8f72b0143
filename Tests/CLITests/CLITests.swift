@testable import LimRankCLI
