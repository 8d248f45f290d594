echo "helper=$(basename "$GITHUB_ACTION_PATH")" >> "$GITHUB_OUTPUT"
