import Evaluation
