# mk CASE PATH < content   (helper used only while authoring)
mk() { mkdir -p "$1/$(dirname "$2")"; cat > "$1/$2"; }
