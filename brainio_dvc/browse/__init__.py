"""Reading a registry as a whole: history and diffs (:mod:`.history`), what the catalogs list
and what one identifier holds (:mod:`.listing`), citations (:mod:`.citations`), search
(:mod:`.catalog_search`) and the static site (:mod:`.site`)."""
