"""Tools: controllers turning one pointer gesture (begin/move/end) into one undo step."""
