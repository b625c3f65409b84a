"""Writes every generated test model into examples/models/: python3 scripts/models/generate.py"""

import qdq
import segmented
import small_cnn
import small_transformer
import tiny_bert

if __name__ == "__main__":
    small_cnn.main()
    small_transformer.main()
    tiny_bert.main()
    segmented.main()
    qdq.main()
