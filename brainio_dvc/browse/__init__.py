"""Reading a registry as a whole: history and diffs (:mod:`.history`), citations
(:mod:`.citations`), search (:mod:`.catalog_search`) and the static site (:mod:`.site`)."""
