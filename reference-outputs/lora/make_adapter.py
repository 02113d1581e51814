# make_adapter.py BASE_DIR OUT_DIR MERGED_DIR - a random PEFT LoRA adapter on qwen2-tiny for the
# by-hand check of gguf-forge's --lora (issue 16), made with PEFT itself (so the folder is PEFT's own
# layout), and PEFT's merge_and_unload of it (an independent reference of the merged weights).
# lora_B is random (PEFT initialises it to zero), seeded, large enough to move the perplexity by several per cent.
import sys, torch, peft, transformers
from transformers import AutoModelForCausalLM
from peft import LoraConfig, get_peft_model

base, out, merged = sys.argv[1:4]
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
pm = get_peft_model(model, cfg)
with torch.no_grad():
    for n, p in pm.named_parameters():
        if "lora_B" in n:
            p.normal_(0.0, 0.1)
pm.save_pretrained(out)
pm.merge_and_unload().save_pretrained(merged, safe_serialization=True)
print("torch", torch.__version__, "peft", peft.__version__, "transformers", transformers.__version__)
