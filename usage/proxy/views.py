async def chat_completions(r): pass
completions=embeddings=responses=models_list=chat_completions
