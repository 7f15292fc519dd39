from pydantic import BaseModel, Field, StrictInt


class VoteIn(BaseModel):
    post_id: StrictInt
    # Strict: the JSON numbers 0 and 1 only, not "1", 1.0 or true.
    dir: StrictInt = Field(ge=0, le=1, description="1 adds the caller's vote, 0 takes it back")


class VoteResult(BaseModel):
    message: str
